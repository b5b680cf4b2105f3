"""Where a run starts: nothing (fresh), its own last.pt (--resume) or another checkpoint
(--init-from). `start_run` reads and checks every input and builds the model, the optimizer and
the plan, writing nothing; `snapshot` is its inverse, the checkpoint of a run as it stands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch

from charrnn import __version__
from charrnn.data.batching import StreamLayout, stream_layout
from charrnn.data.corpus import Corpus, Fingerprint, describe_change, load_corpus, same_files
from charrnn.data.sources import describe_corpus, describe_sources
from charrnn.data.vocab import Vocabulary, describe_chars
from charrnn.errors import CheckpointError, ConfigError, VocabularyError
from charrnn.model.checkpoint import Checkpoint, load_model
from charrnn.model.grow import grown_weights
from charrnn.model.network import CharRNN, State, count_parameters
from charrnn.model.paths import resolve_checkpoint
from charrnn.model.records import CorpusRecord, Progress, Sizing, StepPlan, TrainingRecord, Validation
from charrnn.runtime import bf16_support, choose_device, choose_precision, configure_threads, physical_cores
from charrnn.train import distributed
from charrnn.train.config import TrainConfig
from charrnn.train.observers import RunStarted
from charrnn.train.plan import LIMITS, UNLIMITED, steps_asked_for
from charrnn.train.run_config import ARCHITECTURE, check_start_options
from charrnn.train.run_dir import existing_run, last_checkpoint_path
from charrnn.train.sizing import describe_sizing, size_network, sized


@dataclass
class Run:
    """Everything one training invocation works with, ready for its next step."""

    config: TrainConfig
    world: distributed.World
    device: torch.device
    precision: str  # "fp32" or "bf16", as resolved
    threads: int
    corpus: Corpus
    train_ids: np.ndarray
    val_ids: np.ndarray
    layout: StreamLayout
    rows: slice  # this rank's block of the global batch's streams
    model: CharRNN
    forward: torch.nn.Module  # what the step calls: the model, or DistributedDataParallel around it
    optimizer: torch.optim.Optimizer
    plan: StepPlan  # the plan followed now
    plans: list[StepPlan] = field(default_factory=list)  # every plan settled so far, `plan` last
    replaying: list[StepPlan] = field(default_factory=list)  # a replay's recorded plans still to come
    sizing: Sizing | None = None  # how the width was chosen, where it was sized to the budget
    progress: Progress = field(default_factory=Progress)
    history: list[Validation] = field(default_factory=list)
    carried: State | None = None  # this rank's streams' state after the last window
    resumed: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def budget_seconds(self) -> float | None:
        return None if self.config.max_minutes is None else self.config.max_minutes * 60

    @property
    def chars_per_step(self) -> int:
        return self.config.batch_size * self.config.seq_len

    def rate(self, step: int) -> float:
        """The learning rate of optimizer step `step` under the current plan."""
        plan = self.plan
        return self.config.schedule.rate(step, plan.total_steps, plan.decay_from, plan.decay_progress)

    @property
    def planned_steps(self) -> int | None:
        """The plan's steps; None while only a budget, not yet turned into steps, limits the run."""
        return None if self.plan.total_steps == UNLIMITED else self.plan.total_steps

    @property
    def epoch(self) -> float:
        """Epochs done, fractions included."""
        return self.progress.epochs_done + self.progress.window / self.layout.windows_per_epoch

    def started(self) -> RunStarted:
        """What this run is about to do, for its observers."""
        return RunStarted(
            corpus=describe_corpus(self.config.corpus, len(self.corpus.files)),
            checkpoint_dir=self.config.checkpoint_dir,
            device=str(self.device),
            precision=self.precision,
            threads=self.threads,
            vocab_size=self.corpus.vocab.size,
            num_parameters=count_parameters(self.model),
            train_chars=len(self.train_ids),
            val_chars=len(self.val_ids),
            windows_per_epoch=self.layout.windows_per_epoch,
            total_steps=self.planned_steps,
            start_step=self.progress.step,
            resumed=self.progress.step > 0,
        )


def start_run(
    config: TrainConfig,
    *,
    resume: bool,
    init_from: Path | None,
    force: bool,
    replay: tuple[StepPlan, ...] = (),
) -> Run:
    """A run ready for its first step; `replay`: a recorded run's plans, the first followed from
    the start and each of the others adopted at the step it was settled at."""
    check_start_options(resume, init_from)
    world = distributed.world_from_env()
    device = distributed.start(world, choose_device(config.device))
    threads = configure_threads(config.threads or max(1, physical_cores() // world.local_size))
    torch.manual_seed(config.seed)
    last = last_checkpoint_path(Path(config.checkpoint_dir))
    if not resume and not force and (existing := existing_run(Path(config.checkpoint_dir))):
        raise CheckpointError(
            f"{existing} already exists: add --resume to continue that run, --force to start "
            "over (overwriting it), or choose another --checkpoint-dir"
        )
    start_from = resolve_checkpoint(init_from) if init_from is not None else last
    base = load_model(start_from, device) if (resume or init_from) else None
    if init_from is not None and base is not None:  # fine-tuning keeps the architecture; dropout may change
        arch = base.network.config
        config = replace(
            config,
            **{k: getattr(arch, k) for k in ARCHITECTURE},
        )
    saved = base.checkpoint.training if resume and base is not None else None
    if resume and saved is None:
        raise CheckpointError(f"{last} holds no training state to resume")
    record = base.checkpoint.corpus if resume and base is not None else None
    check = None if record is None else partial(_check_same_corpus, record, checkpoint=last)
    corpus = _load_training_corpus(config, base.vocab if base else None, init_from is not None, check)
    precision, warning = run_precision(saved, config, device)
    train_ids, val_ids = corpus.split()
    layout = stream_layout(train_ids, config.batch_size, config.seq_len)
    sizing = None
    if sized(config, fresh=base is None and not replay, distributed=world.active):
        sizing = size_network(config, corpus.vocab.size, train_ids, device, precision)
    config = replace(config, hidden_size=sizing.width if sizing else config.model_config(1).hidden_size)
    model = CharRNN(config.model_config(corpus.vocab.size)).to(device)
    notes = [*corpus.skipped, *([warning] if warning else []), *([describe_sizing(sizing)] if sizing else [])]
    if base is not None:
        model.load_state_dict(grown_weights(model, base.network.state_dict(), base.vocab.size))
        if added := corpus.vocab.chars[base.vocab.size :]:
            notes.append(
                f"the vocabulary grew by {len(added)} character(s) of {describe_sources(config.corpus)}: "
                f"{describe_chars(added)} "
                f"(ids {base.vocab.size}-{corpus.vocab.size - 1}; each starts as an average character, "
                "as likely as the rarest)"
            )
    asked = steps_asked_for(layout.windows_per_epoch, config.epochs, config.max_steps)
    run = Run(
        config=config,
        world=world,
        device=device,
        precision=precision,
        threads=threads,
        corpus=corpus,
        train_ids=train_ids,
        val_ids=val_ids,
        layout=layout,
        rows=distributed.rows_of(world, config.batch_size),
        model=model,
        forward=torch.nn.parallel.DistributedDataParallel(model) if world.active else model,
        optimizer=torch.optim.AdamW(
            model.parameters(), lr=config.lr, betas=(0.9, 0.99), weight_decay=config.weight_decay
        ),
        # Settled now unless the first steps must be measured: to fit a budget, or to set the cadence.
        plan=replace(
            asked,
            settled=config.max_minutes is None and config.eval_every is not None,
            eval_every=config.eval_every,
        ),
        warnings=notes,
        sizing=sizing,
    )
    if replay:
        run.plan, run.plans, run.replaying = replay[0], [replay[0]], list(replay[1:])
    if saved is not None:
        _restore(run, saved)
    return run


def _restore(run: Run, saved: TrainingRecord) -> None:
    run.optimizer.load_state_dict(saved.optimizer)
    run.progress = replace(saved.progress)
    run.history = list(saved.history)
    if saved.carried_state:
        run.carried = tuple(t[:, run.rows].to(run.device).float() for t in saved.carried_state)
    run.plans = [plan for plan in saved.plans if plan.settled]
    run.replaying = list(saved.replaying)
    run.sizing = saved.sizing
    # a changed limit plans anew from here (the step recorded, so that a replay adopts it here too)
    run.plan = continued_plan(saved, run.config) or replace(run.plan, measured_at_step=saved.progress.step)
    run.resumed = True
    torch.set_rng_state(saved.rng["torch"].cpu())
    if torch.cuda.is_available() and saved.rng.get("cuda"):
        torch.cuda.set_rng_state_all([s.cpu() for s in saved.rng["cuda"]])


def snapshot(run: Run, carried: State | None) -> Checkpoint:
    """The checkpoint of `run` as it stands, with the global batch's `carried` state."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    corpus = run.corpus
    return Checkpoint(
        model_config=run.model.config,
        vocabulary=corpus.vocab,
        weights=run.model.state_dict(),
        written_by=__version__,
        corpus=CorpusRecord(run.config.corpus, corpus.files, int(len(corpus.ids)), run.config.val_frac),
        training=TrainingRecord(
            config=run.config.to_dict(),
            precision=run.precision,
            progress=replace(run.progress),
            plans=tuple(run.plans if run.plans[-1:] == [run.plan] else [*run.plans, run.plan]),
            optimizer=run.optimizer.state_dict(),
            carried_state=tuple(carried or ()),
            rng={"torch": torch.get_rng_state(), "cuda": cuda},
            history=tuple(run.history),
            replaying=tuple(run.replaying),
            sizing=run.sizing,
        ),
    )


def continued_plan(saved: TrainingRecord, config: TrainConfig) -> StepPlan | None:
    """The saved plan while --epochs, --max-steps and --max-minutes are as saved; else None (plan
    anew: a changed limit re-plans the run, which is how a finished run is extended)."""
    if saved.plan is None or any(saved.config.get(limit) != getattr(config, limit) for limit in LIMITS):
        return None
    return replace(saved.plan, eval_every=config.eval_every or saved.plan.eval_every)


def run_precision(saved: TrainingRecord | None, config: TrainConfig, device: torch.device) -> tuple[str, str]:
    """(the precision to train in, a warning or ""). A resumed run keeps the precision it was
    trained in, unless --precision is given again; a fresh run resolves --precision here."""
    if saved is None or config.precision != saved.config.get("precision"):
        chosen = choose_precision(config.precision, device)
        if saved is None or chosen == saved.precision:
            return chosen, ""
        return chosen, (
            f"warning: this run was trained in {saved.precision} and continues in {chosen}: it will "
            "not be bitwise equal to a run never interrupted"
        )
    support = bf16_support(device)
    if saved.precision == "bf16" and not support.runs:
        raise ConfigError(
            f"this run was trained in bf16, which cannot run on {support.hardware}: resume it where "
            "bf16 runs (a CPU with AVX-512 or a GPU with bf16), or add --precision fp32 to continue in fp32"
        )
    return saved.precision, ""


def _load_training_corpus(
    config: TrainConfig,
    vocab: Vocabulary | None,
    grow: bool,
    check: Callable[[tuple[Fingerprint, ...]], None] | None,
) -> Corpus:
    try:
        return load_corpus(config.corpus, vocab, grow=grow, val_frac=config.val_frac, check_files=check)
    except VocabularyError as e:  # resuming: the run's vocabulary is fixed
        raise VocabularyError(
            f"{describe_sources(config.corpus)}: {e} "
            "(a run resumes on its own vocabulary; --init-from grows it)"
        ) from None


def _check_same_corpus(record: CorpusRecord, current: tuple[Fingerprint, ...], checkpoint: Path) -> None:
    if same_files(record.files, current):
        return
    if len(record.files) == 1 and len(current) == 1:
        stored, now = record.files[0], current[0]
        raise CheckpointError(
            f"{checkpoint} was trained on {stored.path} (sha256 {stored.sha256[:12]}…), but "
            f"{now.path} differs (sha256 {now.sha256[:12]}…): resume on the same corpus, "
            "or fine-tune with --init-from"
        )
    raise CheckpointError(
        f"{checkpoint} was trained on {describe_corpus(record.sources, len(record.files))}, which has "
        f"changed since ({describe_change(record.files, current)}): resume on the same corpus, or "
        "fine-tune with --init-from"
    )
