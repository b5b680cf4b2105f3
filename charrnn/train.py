"""The training loop: summed per-step cross-entropy, truncated BPTT, clipping, evaluation, checkpoints.

Reports go through TrainObserver callbacks (metrics.py); nothing here prints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from charrnn import __version__
from charrnn.batching import stream_layout
from charrnn.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from charrnn.corpus import Fingerprint, load_corpus, split_train_val
from charrnn.errors import CheckpointError, ConfigError, TrainingDiverged, VocabularyError
from charrnn.evaluate import LN2, stream_loss
from charrnn.metrics import MetricsLog, RunInfo, TrainObserver
from charrnn.model import CharRNN, ModelConfig, State, count_parameters, detach_state
from charrnn.runtime import autocast, choose_device, choose_precision, configure_threads
from charrnn.sampling import sample_text
from charrnn.schedule import learning_rate
from charrnn.stopping import StopRequest, stop_on_signals


@dataclass(frozen=True)
class TrainConfig:
    corpus: str
    checkpoint_dir: str = "checkpoints"
    # model
    cell: str = "lstm"
    num_layers: int = 2
    hidden_size: int = 512
    embed_size: int = 64
    dropout: float = 0.0
    # data
    val_frac: float = 0.1
    batch_size: int = 64
    seq_len: int = 100
    # optimisation
    lr: float = 2e-3
    min_lr_frac: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    # stopping: whichever comes first
    epochs: int = 5
    max_steps: int | None = None
    max_minutes: float | None = None
    # reporting
    eval_every: int = 200
    log_every: int = 20
    sample_chars: int = 200
    # runtime
    seed: int = 1234
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None  # None: one per physical core

    def __post_init__(self) -> None:
        self.model_config(vocab_size=1)  # validates the architecture fields
        positive = {
            "batch_size": "--batch-size",
            "seq_len": "--seq-len",
            "epochs": "--epochs",
            "eval_every": "--eval-every",
            "log_every": "--log-every",
        }
        for name, flag in positive.items():
            if getattr(self, name) <= 0:
                raise ConfigError(f"{flag} must be positive, not {getattr(self, name)}")
        checks = [
            (0.0 < self.val_frac < 1.0, "--val-frac must be in (0, 1)", self.val_frac),
            (self.lr > 0 and math.isfinite(self.lr), "--lr must be positive", self.lr),
            (0.0 <= self.min_lr_frac <= 1.0, "--min-lr-frac must be in [0, 1]", self.min_lr_frac),
            (self.warmup_steps >= 0, "--warmup-steps must be >= 0", self.warmup_steps),
            (self.weight_decay >= 0, "--weight-decay must be >= 0", self.weight_decay),
            (self.grad_clip > 0, "--grad-clip must be positive", self.grad_clip),
            (self.sample_chars >= 0, "--sample-chars must be >= 0", self.sample_chars),
            (self.threads is None or self.threads > 0, "--threads must be positive", self.threads),
            (self.max_steps is None or self.max_steps > 0, "--max-steps must be positive", self.max_steps),
            (
                self.max_minutes is None or self.max_minutes > 0,
                "--max-minutes must be positive",
                self.max_minutes,
            ),
        ]
        for ok, message, value in checks:
            if not ok:
                raise ConfigError(f"{message}, not {value}")

    def model_config(self, vocab_size: int) -> ModelConfig:
        return ModelConfig(
            vocab_size=vocab_size,
            cell=self.cell,
            num_layers=self.num_layers,
            hidden_size=self.hidden_size,
            embed_size=self.embed_size,
            dropout=self.dropout,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# What `--resume` may change: limits, reporting and where it runs. Everything else would make
# the continued run a different run from the one the checkpoint started.
RESUMABLE_OVERRIDES = frozenset(
    {"epochs", "max_steps", "max_minutes", "eval_every", "log_every", "sample_chars", "device", "threads"}
)


def last_checkpoint_path(checkpoint_dir: Path) -> Path:
    return checkpoint_dir / "last.pt"


def config_for_resume(checkpoint_dir: Path, overrides: dict[str, Any]) -> TrainConfig:
    """The saved run's configuration with the explicitly given, resumable options applied."""
    data = load_checkpoint(last_checkpoint_path(checkpoint_dir))
    saved = TrainConfig(**dict(data["train_config"]))
    refused = sorted(
        k
        for k, v in overrides.items()
        if k not in RESUMABLE_OVERRIDES
        and v != getattr(saved, k, v)
        and k in {f.name for f in fields(TrainConfig)}
    )
    if refused:
        names = ", ".join("--" + k.replace("_", "-") for k in refused)
        raise ConfigError(
            f"{names} cannot change on --resume (the run continues with its saved configuration); "
            "use --init-from to start a new run from these weights"
        )
    allowed = {k: v for k, v in overrides.items() if k in RESUMABLE_OVERRIDES}
    return replace(saved, **allowed)


@dataclass
class Progress:
    """Where a run stands; saved in every checkpoint so that resume continues exactly."""

    step: int = 0
    epoch: int = 0  # completed epochs
    window: int = 0  # next window index within the current epoch
    chars_seen: int = 0
    seconds: float = 0.0
    best_val_loss: float = math.inf


@dataclass(frozen=True)
class TrainResult:
    stop_reason: str  # "epochs", "max_steps", "max_minutes", "interrupted"
    step: int
    epoch: int
    chars_seen: int
    seconds: float
    last_val_loss: float | None
    best_val_loss: float | None
    checkpoint_dir: str
    exit_code: int = 0


def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise CheckpointError(
            f"cannot write to checkpoint directory {directory}: {e.strerror or e}"
        ) from None


def _restore_rng(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"].cpu())
    if torch.cuda.is_available() and rng.get("cuda"):
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])


def _rng_state() -> dict[str, Any]:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda}


class _Run:
    """The state of one training invocation; `train()` is the public entry point."""

    def __init__(
        self,
        config: TrainConfig,
        observers: Sequence[TrainObserver],
        resume: bool,
        init_from: Path | None,
        force: bool,
    ) -> None:
        self.config = config
        self.observers = list(observers)
        self.checkpoint_dir = Path(config.checkpoint_dir)
        self.device = choose_device(config.device)
        self.precision = choose_precision(config.precision, self.device)
        self.threads = configure_threads(config.threads)
        torch.manual_seed(config.seed)
        _check_writable(self.checkpoint_dir)
        last = last_checkpoint_path(self.checkpoint_dir)
        if not resume and last.exists() and not force:
            raise CheckpointError(
                f"{last} already exists: add --resume to continue that run, --force to start "
                "over (overwriting it), or choose another --checkpoint-dir"
            )
        saved = load_checkpoint(last, self.device) if resume else None
        base = load_checkpoint(init_from, self.device) if init_from else saved
        loaded = model_from_checkpoint(base, init_from or last, self.device) if base else None
        if init_from is not None and loaded is not None:
            # Fine-tuning keeps the checkpoint's architecture and vocabulary; dropout may change.
            arch = loaded.model.config
            config = replace(
                config,
                cell=arch.cell,
                num_layers=arch.num_layers,
                hidden_size=arch.hidden_size,
                embed_size=arch.embed_size,
            )
            self.config = config
        vocab = loaded.vocab if loaded else None
        try:
            corpus = load_corpus(Path(config.corpus), vocab)
        except VocabularyError as e:
            raise VocabularyError(f"{config.corpus}: {e} (the checkpoint's vocabulary is fixed)") from None
        if saved is not None:
            stored = Fingerprint.from_dict(saved["corpus"])
            if stored.sha256 != corpus.fingerprint.sha256:
                raise CheckpointError(
                    f"{last} was trained on {stored.path} (sha256 {stored.sha256[:12]}…), but "
                    f"{config.corpus} differs (sha256 {corpus.fingerprint.sha256[:12]}…): resume "
                    "on the same corpus, or fine-tune with --init-from"
                )
        self.corpus = corpus
        self.vocab = corpus.vocab
        self.train_ids, self.val_ids = split_train_val(corpus.ids, config.val_frac)
        self.layout = stream_layout(self.train_ids, config.batch_size, config.seq_len)

        self.model = CharRNN(config.model_config(self.vocab.size)).to(self.device)
        if loaded is not None:
            self.model.load_state_dict(loaded.model.state_dict())
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=config.lr,
            betas=(0.9, 0.99),
            weight_decay=config.weight_decay,
        )
        self.progress = Progress()
        self.history: list[dict[str, Any]] = []
        self.carried: State | None = None
        if saved is not None:
            self._restore(saved)
        elif force:
            (self.checkpoint_dir / "metrics.jsonl").unlink(missing_ok=True)
        self.metrics = MetricsLog(self.checkpoint_dir / "metrics.jsonl")
        self.observers.insert(0, self.metrics)
        self.total_steps = self.layout.windows_per_epoch * config.epochs
        if config.max_steps is not None:
            self.total_steps = min(self.total_steps, config.max_steps)

    def _restore(self, saved: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(saved["optimizer_state"])
        self.progress = Progress(**dict(saved["progress"]))
        self.history = list(saved["history"])
        carried = saved.get("carried_state")
        self.carried = tuple(t.to(self.device) for t in carried) if carried else None
        _restore_rng(saved["rng"])

    # -- reporting -------------------------------------------------------------------------
    def _emit(self, method: str, *args: Any) -> None:
        for observer in self.observers:
            getattr(observer, method)(*args)

    def _record(self, event: str, **values: Any) -> dict[str, Any]:
        p = self.progress
        return {
            "event": event,
            "step": p.step,
            "epoch": p.epoch + p.window / self.layout.windows_per_epoch,
            "chars_seen": p.chars_seen,
            "seconds": round(p.seconds, 3),
            **values,
        }

    # -- checkpoints -----------------------------------------------------------------------
    def _payload(self) -> dict[str, Any]:
        return {
            "charrnn_version": __version__,
            "model_config": self.model.config.to_dict(),
            "vocab": self.vocab.chars,
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "train_config": self.config.to_dict(),
            "precision": self.precision,
            "progress": asdict(self.progress),
            "carried_state": list(self.carried) if self.carried is not None else [],
            "rng": _rng_state(),
            "history": self.history,
            "corpus": {
                **self.corpus.fingerprint.to_dict(),
                "num_chars": int(len(self.corpus.ids)),
                "val_frac": self.config.val_frac,
            },
        }

    def _save(self, best: bool) -> None:
        payload = self._payload()
        save_checkpoint(payload, last_checkpoint_path(self.checkpoint_dir))
        if best:
            save_checkpoint(payload, self.checkpoint_dir / "best.pt")

    def _evaluate(self) -> float:
        report = stream_loss(self.model, self.val_ids, self.device, self.precision)
        val_loss = report.nats_per_char
        improved = val_loss < self.progress.best_val_loss
        if improved:
            self.progress.best_val_loss = val_loss
        record = self._record(
            "val",
            val_loss=val_loss,
            val_bpc=report.bits_per_char,
            val_perplexity=report.perplexity,
            val_chars=report.num_predicted,
            best=improved,
        )
        self.history.append(record)
        sample = ""
        if self.config.sample_chars:
            prime = self.vocab.decode(self.val_ids[:1])
            sample = prime + sample_text(
                self.model,
                self.vocab,
                prime,
                self.config.sample_chars,
                temperature=0.8,
                seed=self.config.seed + self.progress.step,
            )
        self._save(best=improved)
        self._emit("on_eval", record, sample)
        return val_loss

    # -- the loop --------------------------------------------------------------------------
    def _stop_reason(self, started: float, stop: StopRequest) -> str | None:
        cfg, p = self.config, self.progress
        if stop.requested:
            return "interrupted"
        if p.epoch >= cfg.epochs:
            return "epochs"
        if cfg.max_steps is not None and p.step >= cfg.max_steps:
            return "max_steps"
        if cfg.max_minutes is not None and time.perf_counter() - started >= cfg.max_minutes * 60:
            return "max_minutes"
        return None

    def _check_finite(self, first_bad: torch.Tensor) -> None:
        bad = int(first_bad)
        if bad >= 0:
            raise TrainingDiverged(
                f"training diverged at step {bad}: the loss became NaN or infinite; "
                f"{self.checkpoint_dir} keeps the last good checkpoint (try a lower --lr)"
            )

    def run(self, stop: StopRequest) -> TrainResult:
        cfg, p, layout = self.config, self.progress, self.layout
        self._emit(
            "on_start",
            RunInfo(
                corpus_path=cfg.corpus,
                checkpoint_dir=str(self.checkpoint_dir),
                device=str(self.device),
                precision=self.precision,
                threads=self.threads,
                vocab_size=self.vocab.size,
                num_parameters=count_parameters(self.model),
                train_chars=len(self.train_ids),
                val_chars=len(self.val_ids),
                windows_per_epoch=layout.windows_per_epoch,
                total_steps=self.total_steps,
                start_step=p.step,
                resumed=p.step > 0,
            ),
        )
        started = time.perf_counter()
        seconds_before = p.seconds
        last_eval_step = self.history[-1]["step"] if self.history else -1
        interval_loss = torch.zeros((), device=self.device)
        interval_steps, interval_chars, interval_start = 0, 0, time.perf_counter()
        first_bad = torch.full((), -1, dtype=torch.long, device=self.device)
        self.model.train()
        while (reason := self._stop_reason(started, stop)) is None:
            if p.window == 0:
                self.carried = None  # each epoch starts from a zero state
            lr = learning_rate(p.step, cfg.lr, cfg.warmup_steps, self.total_steps, cfg.min_lr_frac)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            inputs_np, targets_np = layout.window(p.window)
            inputs = torch.from_numpy(inputs_np.astype(np.int64)).to(self.device)  # (B, T)
            targets = torch.from_numpy(targets_np.astype(np.int64)).to(self.device)  # (B, T)
            with autocast(self.device, self.precision):
                logits, state = self.model(inputs, self.carried)  # (B, T, V)
            # Every time step of every stream contributes; dividing the sum by the character
            # count keeps --lr and --grad-clip independent of --batch-size and --seq-len.
            loss_sum = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="sum")
            loss = loss_sum / targets.numel()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            self.optimizer.step()
            self.carried = detach_state(state)
            first_bad = torch.where(
                (first_bad < 0) & ~torch.isfinite(loss.detach()),
                torch.full_like(first_bad, p.step + 1),
                first_bad,
            )
            interval_loss += loss.detach()
            p.step += 1
            p.chars_seen += targets.numel()
            interval_steps += 1
            interval_chars += targets.numel()
            p.window += 1
            if p.window == layout.windows_per_epoch:
                p.epoch, p.window = p.epoch + 1, 0
            p.seconds = seconds_before + time.perf_counter() - started
            if p.step % cfg.log_every == 0:
                self._check_finite(first_bad)
                elapsed = time.perf_counter() - interval_start
                train_loss = float(interval_loss) / interval_steps
                self._emit(
                    "on_log",
                    self._record(
                        "train",
                        train_loss=train_loss,
                        train_bpc=train_loss / LN2,
                        lr=lr,
                        chars_per_sec=interval_chars / max(elapsed, 1e-9),
                        total_steps=self.total_steps,
                    ),
                )
                interval_loss.zero_()
                interval_steps, interval_chars, interval_start = 0, 0, time.perf_counter()
            if p.step % cfg.eval_every == 0:
                self._check_finite(first_bad)
                self._evaluate()
                last_eval_step = p.step
                interval_start = time.perf_counter()
        self._check_finite(first_bad)
        if reason == "interrupted":
            self._save(best=False)  # fast: a signal asks to stop within seconds
            self._emit(
                "on_message",
                f"interrupted at step {p.step}: saved {last_checkpoint_path(self.checkpoint_dir)}",
            )
        elif last_eval_step != p.step:
            self._evaluate()
        last_val = self.history[-1]["val_loss"] if self.history else None
        best_val = p.best_val_loss if math.isfinite(p.best_val_loss) else None
        return TrainResult(
            stop_reason=reason,
            step=p.step,
            epoch=p.epoch,
            chars_seen=p.chars_seen,
            seconds=p.seconds,
            last_val_loss=last_val,
            best_val_loss=best_val,
            checkpoint_dir=str(self.checkpoint_dir),
            exit_code=stop.exit_code if reason == "interrupted" else 0,
        )


def train(
    config: TrainConfig,
    observers: Sequence[TrainObserver] = (),
    *,
    resume: bool = False,
    init_from: Path | None = None,
    force: bool = False,
    stop: StopRequest | None = None,
) -> TrainResult:
    """Train (or resume) a model as `config` says; SIGINT/SIGTERM stop it after a saved step."""
    if resume and init_from is not None:
        raise ConfigError("--resume and --init-from cannot be combined")
    run = _Run(config, observers, resume=resume, init_from=init_from, force=force)
    with stop_on_signals(stop or StopRequest()) as request:
        return run.run(request)
