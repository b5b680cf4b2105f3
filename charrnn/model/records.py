"""What a checkpoint records besides the network: the corpus it was trained on and the state
of its training (progress, plans, validations), as typed values. checkpoint.py writes and reads
them; training, info and the observers use them."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from charrnn.data.corpus import Fingerprint


@dataclass
class Progress:
    """Where a training run stands, after its last completed step."""

    step: int = 0
    epochs_done: int = 0  # completed epochs (a validation's `epoch` is the fraction gone through)
    window: int = 0  # next window index within the current epoch
    chars_seen: int = 0
    seconds: float = 0.0  # training time of the whole run, every invocation together
    best_val_loss: float = math.inf


@dataclass(frozen=True)
class StepPlan:
    """How many steps a run takes (train/plan.py makes it)."""

    total_steps: int
    limited_by: str  # which limit set total_steps: "epochs", "max_steps" or "max_minutes"
    settled: bool  # False until the first steps are measured, where a budget or the cadence needs it
    chars_per_sec: float | None = None  # the training speed a budget was turned into steps with
    measured_at_step: int | None = None
    eval_every: int | None = None  # validate every this many steps (None: not yet settled)
    # A plan re-settled inside the decay: the last step taken before it, and how far along the
    # cosine that step was (train/schedule.py); None: the decay is the plan's own.
    decay_from: int | None = None
    decay_progress: float = 0.0
    # segments of the run's last validation: 1 (exact) unless an exact pass would cost too much of
    # the budget (train/validation.py)
    last_val_segments: int = 1


@dataclass(frozen=True)
class Validation:
    """One pass over the validation text, as logged to metrics.jsonl ("event": "val")."""

    step: int
    epoch: float
    chars_seen: int
    seconds: float
    val_loss: float  # nats per character
    val_bpc: float
    val_perplexity: float
    val_chars: int
    val_segments: int
    best: bool

    def to_record(self) -> dict[str, Any]:
        return {"event": "val", **asdict(self)}


@dataclass(frozen=True)
class CorpusRecord:
    sources: tuple[str, ...]  # the paths the run was given: files, folders
    files: tuple[Fingerprint, ...]  # the files read from them, in order
    num_chars: int
    val_frac: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": list(self.sources),
            "files": [f.to_dict() for f in self.files],
            "num_chars": self.num_chars,
            "val_frac": self.val_frac,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CorpusRecord:
        return cls(
            tuple(str(s) for s in d["sources"]),
            tuple(Fingerprint.from_dict(dict(f)) for f in d["files"]),
            int(d["num_chars"]),
            float(d["val_frac"]),
        )


@dataclass(frozen=True)
class SizedWidth:
    """One width the sizing weighed (train/sizing.py): its seconds per step on this machine
    (probed, or fitted from the probes), the steps the budget buys it, its expected loss."""

    width: int
    seconds_per_step: float
    steps: int
    expected_loss: float  # nats/char: the sizing sweep's mean curve at `steps`
    probed: bool


@dataclass(frozen=True)
class Sizing:
    """How a run's network width was chosen: the width, and what every candidate would have had."""

    width: int
    budget_seconds: float
    candidates: tuple[SizedWidth, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sizing:
        return cls(
            width=int(d["width"]),
            budget_seconds=float(d["budget_seconds"]),
            candidates=tuple(SizedWidth(**c) for c in d["candidates"]),
        )


@dataclass(frozen=True)
class TrainingRecord:
    config: dict[str, Any]  # TrainConfig's fields (train/config.py reads them back)
    precision: str  # as resolved: "fp32" or "bf16"
    progress: Progress
    plans: tuple[StepPlan, ...]  # the plans the run has had, in order: the current one last
    optimizer: dict[str, Any]  # torch.optim state_dict
    carried_state: tuple[torch.Tensor, ...]  # (L, B, H) each, fp32; () at an epoch start
    rng: dict[str, Any]  # {"torch": ByteTensor, "cuda": [ByteTensor, ...]}
    history: tuple[Validation, ...] = ()
    # a replayed run (`charrnn train --replay`): the recorded plans still to adopt, each at its step
    replaying: tuple[StepPlan, ...] = ()
    sizing: Sizing | None = None  # where the width was sized to the budget (train/sizing.py)

    @property
    def plan(self) -> StepPlan | None:
        """The plan the run follows now."""
        return self.plans[-1] if self.plans else None
