"""How `charrnn train`'s options become a run's configuration: a fresh run's (the preset under
the options given), a resumed run's (its saved configuration, with the resumable options given
on top; the others refused by name), a fine-tune's (the model's shape kept)."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from charrnn.errors import CheckpointError, ConfigError
from charrnn.model.checkpoint import LoadedModel, load_model
from charrnn.model.paths import resolve_checkpoint
from charrnn.model.records import StepPlan
from charrnn.options import flag_of
from charrnn.train.config import RESUMABLE_OVERRIDES, TrainConfig, default_corpus
from charrnn.train.presets import apply_preset
from charrnn.train.run_dir import last_checkpoint_path


def check_start_options(resume: bool, init_from: Path | None, replay: Path | None = None) -> None:
    given = [
        flag
        for flag, value in (("--resume", resume), ("--init-from", init_from), ("--replay", replay))
        if value
    ]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)} cannot be combined")


def config_from_options(
    options: dict[str, Any],
    explicit: dict[str, Any],
    *,
    corpus: list[Path] | None,
    preset: str | None,
    resume: bool,
    init_from: Path | None,
) -> TrainConfig:
    """The configuration `charrnn train` asks for: `options` holds every option's value (given or
    default), `explicit` those given on the command line. A resumed run keeps its saved
    configuration but for the resumable options given; a fresh one starts from the preset, if
    any, under the options given."""
    check_start_options(resume, init_from)
    if preset is not None and resume:
        raise ConfigError("--preset cannot be combined with --resume (the run keeps its configuration)")
    if resume:
        config = config_for_resume(Path(options["checkpoint_dir"]), explicit)
        return replace(config, corpus=tuple(map(str, corpus))) if corpus else config
    if init_from is not None:
        _check_same_architecture(init_from, explicit)
    chosen = apply_preset(preset, options, explicit)
    return TrainConfig(**{**chosen, "corpus": tuple(map(str, corpus or [default_corpus()]))})


ARCHITECTURE = ("cell", "num_layers", "hidden_size", "embed_size", "factors")


def _check_same_architecture(init_from: Path, explicit: dict[str, Any]) -> None:
    """Fine-tuning keeps the model's shape (only its vocabulary may grow): an architecture option
    given with --init-from must be the checkpoint's."""
    arch = load_model(resolve_checkpoint(init_from)).network.config
    changed = sorted(k for k in ARCHITECTURE if k in explicit and explicit[k] != getattr(arch, k))
    if changed:
        flags = ", ".join(flag_of(k) for k in changed)
        raise ConfigError(
            f"{flags} cannot change with --init-from (the model is {arch.num_layers}x{arch.hidden_size} "
            f"{arch.cell}, and only its vocabulary can grow); leave them out, or train a new model"
        )


def config_for_resume(checkpoint_dir: Path, explicit: dict[str, Any]) -> TrainConfig:
    """The saved run's configuration with the explicitly given, resumable options applied; its
    directory is the one it is resumed from (a run directory may be moved or copied)."""
    loaded: LoadedModel = load_model(last_checkpoint_path(checkpoint_dir))
    training = loaded.checkpoint.training
    if training is None:
        raise CheckpointError(f"{last_checkpoint_path(checkpoint_dir)} holds no training state to resume")
    saved = TrainConfig.from_record(training.config)
    names = {f.name for f in fields(TrainConfig)}
    refused = sorted(
        k
        for k, v in explicit.items()
        if k in names and k not in RESUMABLE_OVERRIDES and k != "checkpoint_dir" and v != getattr(saved, k)
    )
    if refused:
        flags = ", ".join(flag_of(k) for k in refused)
        raise ConfigError(
            f"{flags} cannot change on --resume (the run continues with its saved configuration); "
            "use --init-from to start a new run from these weights"
        )
    resumable = {k: v for k, v in explicit.items() if k in RESUMABLE_OVERRIDES}
    return replace(saved, **resumable, checkpoint_dir=str(checkpoint_dir))


# What a replay may change: where it is written, how it reports, and where and in which
# precision it runs (a different precision or device gives different bits, as for a resume).
REPLAYABLE_OVERRIDES = frozenset(
    {"checkpoint_dir", "log_every", "sample_chars", "device", "precision", "threads"}
)


def config_for_replay(source: Path, explicit: dict[str, Any]) -> tuple[TrainConfig, tuple[StepPlan, ...]]:
    """The configuration and the plans that repeat the run recorded in `source` (a run directory:
    its last.pt; or a checkpoint file) step for step, with no time limit: every recorded plan is
    adopted at the step it was settled at, so every step takes the rate it took there."""
    path = last_checkpoint_path(source) if source.is_dir() else source
    training = load_model(path).checkpoint.training
    if training is None or not training.plans:
        raise CheckpointError(f"{path} holds no training record to replay")
    saved = TrainConfig.from_record(training.config)
    names = {f.name for f in fields(TrainConfig)}
    refused = sorted(
        k
        for k, v in explicit.items()
        if k in names and k not in REPLAYABLE_OVERRIDES and v != getattr(saved, k)
    )
    if refused:
        flags = ", ".join(flag_of(k) for k in refused)
        raise ConfigError(
            f"{flags} cannot be given with --replay (the run repeats its recorded configuration)"
        )
    plans = (*training.plans, *training.replaying)
    config = replace(
        saved,
        **{k: v for k, v in explicit.items() if k in REPLAYABLE_OVERRIDES},
        max_minutes=None,
        max_steps=plans[-1].total_steps,
        eval_every=plans[0].eval_every or saved.eval_every,
    )
    return config, plans
