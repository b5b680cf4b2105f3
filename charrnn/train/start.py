"""Where a run starts from: nothing (fresh), its own last.pt (--resume) or another checkpoint
(--init-from); and the checks that keep a continued run the same run."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from charrnn.data.corpus import Corpus, Fingerprint, load_corpus
from charrnn.data.vocab import Vocabulary
from charrnn.errors import CheckpointError, ConfigError, VocabularyError
from charrnn.model.checkpoint import load_checkpoint, model_from_checkpoint
from charrnn.runtime import bf16_support, choose_precision
from charrnn.train.config import RESUMABLE_OVERRIDES, TrainConfig
from charrnn.train.plan import LIMITS, StepPlan


@dataclass(frozen=True)
class Start:
    config: TrainConfig  # for --init-from: the architecture replaced by the checkpoint's
    corpus: Corpus
    saved: dict[str, Any] | None  # the whole last.pt when resuming
    model_state: dict[str, torch.Tensor] | None  # weights to start from (resume or fine-tune)


def load_start(
    config: TrainConfig, device: torch.device, *, resume: bool, init_from: Path | None, force: bool
) -> Start:
    last = last_checkpoint_path(Path(config.checkpoint_dir))
    existing = [p for p in (last, last.with_name("best.pt")) if p.exists()]
    if not resume and existing and not force:
        raise CheckpointError(
            f"{existing[0]} already exists: add --resume to continue that run, --force to start "
            "over (overwriting it), or choose another --checkpoint-dir"
        )
    saved = load_checkpoint(last, device) if resume else None
    source = init_from or last
    base = load_checkpoint(source, device) if init_from else saved
    loaded = model_from_checkpoint(base, source, device) if base else None
    if init_from is not None and loaded is not None:
        # Fine-tuning keeps the checkpoint's architecture and vocabulary; dropout may change.
        arch = loaded.model.config
        config = replace(
            config,
            cell=arch.cell,
            num_layers=arch.num_layers,
            hidden_size=arch.hidden_size,
            embed_size=arch.embed_size,
            factors=arch.factors,
        )
    corpus = _load_training_corpus(config, loaded.vocab if loaded else None)
    if saved is not None:
        _check_same_corpus(Fingerprint.from_dict(saved["corpus"]), corpus.fingerprint, last)
    state = loaded.model.state_dict() if loaded else None
    return Start(config=config, corpus=corpus, saved=saved, model_state=state)


def continued_plan(saved: dict[str, Any] | None, config: TrainConfig) -> StepPlan | None:
    """The plan a resumed run continues: the saved one while --epochs, --max-steps and
    --max-minutes are as saved; None (plan anew) for a fresh run or when a limit changed."""
    if saved is None or not saved.get("plan"):
        return None
    before = saved["train_config"]
    if any(before.get(limit) != getattr(config, limit) for limit in LIMITS):
        return None
    return StepPlan.from_dict(dict(saved["plan"]))


def run_precision(saved: dict[str, Any] | None, config: TrainConfig, device: torch.device) -> tuple[str, str]:
    """(the precision to train in, a warning or ""). A resumed run keeps the precision it was
    trained in, unless --precision is given again; a fresh run resolves --precision here."""
    recorded = saved.get("precision") if saved is not None else None
    asked_before = saved["train_config"].get("precision") if saved is not None else None
    if recorded is None or config.precision != asked_before:
        chosen = choose_precision(config.precision, device)
        changed = recorded is not None and chosen != recorded
        warning = (
            f"warning: this run was trained in {recorded} and continues in {chosen}: it will not be "
            "bitwise equal to a run never interrupted"
            if changed
            else ""
        )
        return chosen, warning
    support = bf16_support(device)
    if recorded == "bf16" and not support.runs:
        raise ConfigError(
            f"this run was trained in bf16, which cannot run on {support.hardware}: resume it where "
            "bf16 runs (a CPU with AVX-512 or a GPU with bf16), or add --precision fp32 to continue in fp32"
        )
    return str(recorded), ""


def check_start_options(resume: bool, init_from: Path | None) -> None:
    if resume and init_from is not None:
        raise ConfigError("--resume and --init-from cannot be combined")


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


def _load_training_corpus(config: TrainConfig, vocab: Vocabulary | None) -> Corpus:
    try:
        return load_corpus(Path(config.corpus), vocab)
    except VocabularyError as e:
        raise VocabularyError(f"{config.corpus}: {e} (the checkpoint's vocabulary is fixed)") from None


def _check_same_corpus(stored: Fingerprint, current: Fingerprint, checkpoint: Path) -> None:
    if stored.sha256 != current.sha256:
        raise CheckpointError(
            f"{checkpoint} was trained on {stored.path} (sha256 {stored.sha256[:12]}…), but "
            f"{current.path} differs (sha256 {current.sha256[:12]}…): resume on the same corpus, "
            "or fine-tune with --init-from"
        )


def restore_rng(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"].cpu())
    if torch.cuda.is_available() and rng.get("cuda"):
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])


def rng_state() -> dict[str, Any]:
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return {"torch": torch.get_rng_state(), "cuda": cuda}
