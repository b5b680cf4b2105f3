"""A study: trials of `charrnn train` on one corpus until the study's minutes are spent.

Each trial is an in-process training run (train/loop.py's `train`) in RUN_DIR/trials/NNN. The
search trials (the default recipe first) have --trial-minutes each while the study's time
beyond the refit allows; the refit, last, trains the best recipe so far with all the time left
(--refit-minutes, a third of the study by default), unpruned. A search trial reports its validation
losses to Optuna at each tenth of its budget (the key: the percent of its budget gone), and a
trial that the median pruner finds behind the others at the same point is stopped there. The
study's time is the trial time of all its trials, every invocation and process together, so a
study resumed after Ctrl-C (the same command again) or joined by other processes through
--storage goes on with what is left.

The study lives in its storage: by default a journal file in RUN_DIR (Optuna's file storage,
which processes on one machine share), else any URL Optuna opens (an RDB such as
postgresql://…, for processes on several machines). The TPE sampler is seeded with --seed.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from charrnn.data.corpus import load_corpus
from charrnn.errors import CharRNNError, ConfigError
from charrnn.model.checkpoint import load_model
from charrnn.options import DEFAULT_VAL_FRAC, DEVICES, PRECISIONS, check_choice
from charrnn.train.config import TrainConfig
from charrnn.train.loop import train
from charrnn.train.observers import TrainObserver, Validated
from charrnn.train.signals import StopRequest, stop_on_signals
from charrnn.tune.space import command_line, default_params, suggest

MIN_TRIAL_SECONDS = 60.0  # a trial is not started with less of the study's time left
FAILURES_IN_A_ROW = 5  # trials that could not train, one after another, end the study
REPORTS = 10  # a trial reports its validation loss at each tenth of its budget
STUDY_FILE = "study.journal"


@dataclass(frozen=True)
class TuneConfig:
    corpus: tuple[str, ...]
    run_dir: str = "checkpoints/tune"
    minutes: float = 60.0  # the study's trial time, every trial together
    trial_minutes: float | None = None  # a search trial's budget; None: max(2, minutes / 9)
    refit_minutes: float | None = None  # the last trial's: the best recipe again; None: minutes / 3
    storage: str | None = None  # an Optuna storage URL; None: a journal file in run_dir
    study_name: str = "charrnn"
    seed: int = 1234
    val_frac: float = DEFAULT_VAL_FRAC
    device: str = "auto"
    precision: str = "auto"
    threads: int | None = None

    def __post_init__(self) -> None:
        if not self.corpus:
            raise ConfigError("charrnn tune needs a corpus: a file or folder of text to tune on")
        for name, value in (("--minutes", self.minutes), ("--trial-minutes", self.trial_minutes)):
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"{name} must be positive, not {value}")
        refit = self.refit_minutes
        if refit is not None and not (0 <= refit < self.minutes and math.isfinite(refit)):
            raise ConfigError(f"--refit-minutes must be in [0, --minutes), not {refit}")
        check_choice("--device", self.device, DEVICES)
        check_choice("--precision", self.precision, PRECISIONS)

    @property
    def trial_seconds(self) -> float:
        return 60 * (self.trial_minutes if self.trial_minutes is not None else max(2.0, self.minutes / 9))

    @property
    def refit_seconds(self) -> float:
        return 60 * (self.refit_minutes if self.refit_minutes is not None else self.minutes / 3)

    @property
    def storage_url(self) -> str:
        return self.storage or str(Path(self.run_dir) / STUDY_FILE)


@dataclass(frozen=True)
class TrialRow:
    """One trial as the table and the JSON show it."""

    number: int
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    value: float | None  # its best validation loss, nats/char
    params: dict[str, Any]
    minutes: float | None  # its budget
    command: str | None  # the `charrnn train` command that repeats its recipe
    checkpoint_dir: str | None
    refit: bool = False  # the best recipe trained again with the study's last minutes


@dataclass(frozen=True)
class TuneResult:
    trials: tuple[TrialRow, ...]
    best: TrialRow | None
    best_checkpoint: str | None  # RUN_DIR/best.pt, where the best trial's checkpoint is here
    interrupted: bool


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError("charrnn tune needs Optuna: pip install 'charrnn[tune]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_study(config: TuneConfig) -> Any:
    """The study in its storage, created or joined; a storage that cannot be opened is one line."""
    optuna = _optuna()
    url = config.storage_url
    try:
        if config.storage is None:
            Path(config.run_dir).mkdir(parents=True, exist_ok=True)
            from optuna.storages.journal import JournalFileBackend

            storage: Any = optuna.storages.JournalStorage(JournalFileBackend(url))
        else:
            storage = url
        return optuna.create_study(
            study_name=config.study_name,
            storage=storage,
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=config.seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=30),
            load_if_exists=True,
        )
    except Exception as e:  # optuna and SQLAlchemy raise many kinds; each means: cannot open it
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"cannot open the study storage {url}: {first}") from None


def seconds_spent(study: Any, now: float) -> float:
    """The study's trial time so far: finished trials' durations, running ones' until `now`
    (seconds since the epoch)."""
    total = 0.0
    for t in study.get_trials(deepcopy=False):
        if t.datetime_start is None:
            continue
        end = t.datetime_complete.timestamp() if t.datetime_complete else now
        total += max(0.0, end - t.datetime_start.timestamp())
    return total


class _Reporter(TrainObserver):
    """Reports a trial's validations to Optuna and stops it once the pruner says so."""

    def __init__(
        self, trial: Any, seconds: float, stop: StopRequest, tell: Callable[[str], None], prune: bool = True
    ) -> None:
        self.trial, self.seconds, self.stop, self.tell, self.prune = trial, seconds, stop, tell, prune
        self.reported: set[int] = set()
        self.pruned = False

    def on_validation(self, event: Validated) -> None:
        v = event.validation
        key = min(100, int(REPORTS * v.seconds / self.seconds) * (100 // REPORTS))
        self.tell(
            f"trial {self.trial.number}: step {v.step:,}, {v.val_loss:.4f} nats/char at {v.seconds:.0f} s"
        )
        if key in self.reported or not math.isfinite(v.val_loss):
            return
        self.reported.add(key)
        self.trial.report(v.val_loss, key)
        if self.prune and self.trial.should_prune():
            self.pruned = True
            self.tell(f"trial {self.trial.number}: pruned at {key}% of its budget (behind the median)")
            self.stop.request()

    def on_message(self, text: str) -> None:
        if text.startswith("network sized") or (text.startswith("plan:") and "re-settled" not in text):
            self.tell(f"trial {self.trial.number}: {text}")


def tune(
    config: TuneConfig,
    tell: Callable[[str], None] = lambda text: None,
    *,
    stop: StopRequest | None = None,
    observers: Sequence[TrainObserver] = (),
) -> TuneResult:
    """Run trials until the study's minutes are spent (or a signal comes); the best trial's
    checkpoint is copied to RUN_DIR/best.pt."""
    optuna = _optuna()
    # the corpus read once here: a missing, empty or undecodable one is one line, not a failed trial
    load_corpus(config.corpus, None, val_frac=config.val_frac).split()
    study = open_study(config)
    if not study.trials:
        study.enqueue_trial(default_params(), user_attrs={"default": True})
    user = stop or StopRequest()
    interrupted, failures = False, 0
    with stop_on_signals(user):
        while not user.requested and (next_trial := _next_budget(study, config)) is not None:
            seconds, refit = next_trial
            if refit:  # the best recipe so far, trained with what is left
                best = _best_trial(study)
                study.enqueue_trial(best.params, user_attrs={"refit": True, "refit_of": best.number})
            trial = study.ask()
            try:
                state, value = _run_trial(config, trial, seconds, user, tell, observers, prune=not refit)
            except CharRNNError as e:  # this recipe cannot train here (a window longer than the text…)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                tell(f"trial {trial.number}: failed: {e}")
                failures += 1
                if failures >= FAILURES_IN_A_ROW:
                    raise ConfigError(f"{failures} trials in a row could not train; the last: {e}") from None
                continue
            failures = 0
            if state == "interrupted":
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                interrupted = True
                break
            if state == "pruned":
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, value)
            _keep_best_checkpoint(study)
    interrupted = interrupted or user.requested
    return _result(study, config, interrupted)


def _next_budget(study: Any, config: TuneConfig) -> tuple[float, bool] | None:
    """The next trial's budget in seconds and whether it is the refit, or None: the study is done.
    Search trials take --trial-minutes while the time left beyond the refit's allows at least
    half of one; then the refit takes everything left."""
    left = config.minutes * 60 - seconds_spent(study, time.time())
    trials = study.get_trials(deepcopy=False)
    refit_due = config.refit_seconds > 0 and not any(
        t.user_attrs.get("refit") and t.state.name == "COMPLETE" for t in trials
    )
    search = left - (config.refit_seconds if refit_due else 0.0)
    if search >= max(MIN_TRIAL_SECONDS, config.trial_seconds / 2):
        return min(config.trial_seconds, search), False
    if refit_due and _best_trial(study) is not None and left >= MIN_TRIAL_SECONDS:
        return left, True
    if not refit_due and left >= MIN_TRIAL_SECONDS:
        return min(config.trial_seconds, left), False
    return None


def _run_trial(
    config: TuneConfig,
    trial: Any,
    seconds: float,
    user: StopRequest,
    tell: Callable[[str], None],
    observers: Sequence[TrainObserver],
    prune: bool = True,
) -> tuple[str, float | None]:
    """("complete" and the best validation loss) or ("pruned" | "interrupted", None)."""
    directory = Path(config.run_dir) / "trials" / f"{trial.number:03d}"
    recipe = suggest(trial)
    train_config = TrainConfig(
        corpus=config.corpus,
        checkpoint_dir=str(directory),
        max_minutes=seconds / 60,
        seed=config.seed,
        val_frac=config.val_frac,
        device=config.device,
        precision=config.precision,
        threads=config.threads,
        sample_chars=0,
        **recipe,
    )
    trial.set_user_attr("minutes", seconds / 60)
    trial.set_user_attr("checkpoint_dir", str(directory))
    kind = "the refit of the best recipe" if not prune else _describe_params(trial.params)
    tell(f"trial {trial.number}: {kind}, {seconds / 60:.1f} minutes")
    trial_stop = _TrialStop(user)
    reporter = _Reporter(trial, seconds, trial_stop, tell, prune)
    result = train(train_config, [reporter, *observers], force=True, stop=trial_stop)
    trained = _trained_config(directory)
    if trained is not None:
        trial.set_user_attr("command", command_line(replace(trained, max_minutes=seconds / 60)))
    if reporter.pruned:
        return "pruned", None
    if result.stop_reason == "interrupted" or user.requested:
        return "interrupted", None
    if result.best_val_loss is None or not math.isfinite(result.best_val_loss):
        return "pruned", None  # nothing to compare: it diverged or never validated
    tell(f"trial {trial.number}: {result.best_val_loss:.4f} nats/char (best validation)")
    return "complete", result.best_val_loss


class _TrialStop(StopRequest):
    """A trial's stop: the pruner's (request) or the user's signal, which stops the study too."""

    def __init__(self, user: StopRequest) -> None:
        super().__init__()
        self.user = user

    @property
    def requested(self) -> bool:
        return self.signum is not None or self.user.requested


def _trained_config(directory: Path) -> TrainConfig | None:
    """The configuration the trial trained, its width as chosen (sized or sampled)."""
    try:
        training = load_model(directory / "last.pt").checkpoint.training
    except CharRNNError:
        return None
    return None if training is None else TrainConfig.from_record(training.config)


def _describe_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _keep_best_checkpoint(study: Any) -> None:
    """Only the best complete trial keeps its checkpoints (the others keep metrics.jsonl)."""
    best = _best_trial(study)
    for t in study.get_trials(deepcopy=False):
        directory = t.user_attrs.get("checkpoint_dir")
        if directory is None or t.state.name == "RUNNING" or (best is not None and t.number == best.number):
            continue
        for name in ("last.pt", "best.pt"):
            (Path(directory) / name).unlink(missing_ok=True)


def _best_trial(study: Any) -> Any:
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    return min(complete, key=lambda t: (t.value, t.number)) if complete else None


def _result(study: Any, config: TuneConfig, interrupted: bool) -> TuneResult:
    rows = tuple(
        TrialRow(
            number=t.number,
            state=t.state.name,
            value=t.value if t.state.name == "COMPLETE" else None,
            params=dict(t.params),
            minutes=t.user_attrs.get("minutes"),
            command=t.user_attrs.get("command"),
            checkpoint_dir=t.user_attrs.get("checkpoint_dir"),
            refit=bool(t.user_attrs.get("refit")),
        )
        for t in study.get_trials(deepcopy=False)
    )
    best = _best_trial(study)
    best_row = None if best is None else next(r for r in rows if r.number == best.number)
    copied = None
    if best_row is not None and best_row.checkpoint_dir is not None:
        source = Path(best_row.checkpoint_dir) / "best.pt"
        if source.exists():
            target = Path(config.run_dir) / "best.pt"
            shutil.copyfile(source, target)
            copied = str(target)
    return TuneResult(trials=rows, best=best_row, best_checkpoint=copied, interrupted=interrupted)
