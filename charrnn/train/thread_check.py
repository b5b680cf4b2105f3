"""Whether a run computes the same bits with one number of threads as with another: what lets
the thread tuner (threads.py) change threads without changing the run's result."""

from __future__ import annotations

import copy

import torch

from charrnn.measure.loss import SEGMENT_WARMUP, text_loss
from charrnn.runtime import ids_to_device
from charrnn.train.start import Run
from charrnn.train.step import train_step
from charrnn.train.threads import PROBE_CHARS, same_bits_across_threads
from charrnn.train.validation import validation_segments


def same_bits(run: Run, a: int, b: int) -> bool:
    """Whether the run computes the same bits with `a` and `b` threads: the next step, taken by
    a copy of the model and optimizer, and a short stretch of each kind of validation."""
    inputs, targets = run.layout.window(run.progress.window)
    x, y = (ids_to_device(ids[run.rows], run.device) for ids in (inputs, targets))
    probe = run.val_ids[: PROBE_CHARS + 1]
    segments = {validation_segments(run.config, last, run.plan) for last in (False, True)}
    lr = run.rate(run.progress.step)

    def compute() -> list[torch.Tensor]:
        model, optimizer = copy.deepcopy((run.model, run.optimizer))
        parameters = list(model.parameters())
        step = train_step(
            model, parameters, optimizer, x, y, run.carried,
            lr=lr, grad_clip=run.config.grad_clip, precision=run.precision,
        )  # fmt: skip
        losses = [
            text_loss(
                model, probe, run.device, run.precision, segments=k, warmup=SEGMENT_WARMUP * (k > 1)
            )
            for k in sorted(segments)
        ]
        return [
            step.loss,
            step.grad_norm,
            *step.state,
            *parameters,
            torch.tensor([r.total_nats for r in losses]),
        ]

    return same_bits_across_threads(compute, (a, b))
