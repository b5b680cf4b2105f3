"""The default network's width, sized to what the budget buys on this machine.

At equal steps a wider network is always better (the sizing sweep, bench/size_sweep.py, on
three texts); per second it is slower, so a budget buys it fewer steps. Where `--hidden` is not
given and `--max-minutes` alone limits a fresh GRU run, the run times a few steps of three
widths (PROBED, on its own data, device and precision; the widths between them interpolated in
log-log), turns the budget into the steps each width would take, and picks the width whose
sweep curve is lowest at its steps. The probes' seconds count
against the budget; the choice is printed and recorded in the checkpoint (`Sizing`), and the run
is repeated by the `--hidden W --max-steps N --max-minutes 0` its plan line names.

CURVES is the sweep's validation loss (nats/char, the mean over the three texts) after N steps
of the default recipe (2 layers, batch 32 × window 100, the lr's decay over the last 35%);
tests/test_sizing.py checks it against bench/size_sweep.jsonl, the rows it was computed from.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np
import torch

from charrnn.model.network import CharRNN
from charrnn.model.records import SizedWidth, Sizing
from charrnn.runtime import ids_to_device, synchronize
from charrnn.train.config import TrainConfig
from charrnn.train.step import train_step

# width: ((steps, mean validation nats/char over the sweep's texts), ...), steps ascending
CURVES: dict[int, tuple[tuple[int, float], ...]] = {
    128: ((200, 1.9096), (400, 1.6966), (800, 1.5555), (1600, 1.4641), (3200, 1.4122)),
    192: ((200, 1.7788), (400, 1.5953), (800, 1.4844), (1600, 1.3967), (3200, 1.3475)),
    256: ((200, 1.7221), (400, 1.5604), (800, 1.4542), (1600, 1.3663), (3200, 1.3156)),
    384: ((200, 1.6461), (400, 1.5141), (800, 1.4230), (1600, 1.3406), (3200, 1.2906)),
}

# The cell the sweep measured; other cells keep the default width (ModelConfig.hidden_size).
SIZED_CELLS = ("gru",)
# The share of the budget a plan spends on training steps (the rest: start-up, the probes,
# validations, saving); the same for every width, so it hardly moves the choice.
TRAIN_SHARE = 0.9
# The widths timed (each for PROBE_WARMUP + PROBE_STEPS steps); the others are interpolated.
PROBED = (128, 256, 512)
MAX_RATIO = 0.95  # beyond the grid, a doubling gains at most this share of the one before
PROBE_WARMUP = 1  # steps not timed (first-call allocations)
PROBE_STEPS = 2  # timed; the faster one counts


def sized(config: TrainConfig, fresh: bool, distributed: bool) -> bool:
    """Whether this run's width is chosen here: none given, a fresh run on one process, a GRU
    whose steps only the budget limits."""
    return (
        config.hidden_size is None
        and fresh
        and not distributed
        and config.cell in SIZED_CELLS
        and config.max_minutes is not None
        and config.max_steps is None
        and config.epochs is None
        and bool(CURVES)
    )


def expected_loss(width: int, steps: float) -> float:
    """The sweep's mean loss of `width` after `steps`: linear in log(steps) between the grid's
    points and before the first; beyond the last, each further doubling of the steps gains the
    last one's gain times the ratio of the last two (the sweep's curves flatten so: the mean
    curve of width 192 predicted 1.3199 at 6,400 steps from its points up to 3,200; measured
    1.3134, where a straight line would have said 1.2983)."""
    points = CURVES[width]
    x = np.log2([n for n, _ in points])
    y = np.array([loss for _, loss in points])
    at = math.log2(max(steps, 1.0))
    if x[0] <= at <= x[-1]:
        return float(np.interp(at, x, y))
    if at < x[0]:
        return float(y[0] + (y[1] - y[0]) / (x[1] - x[0]) * (at - x[0]))
    gain = (y[-2] - y[-1]) / (x[-1] - x[-2])  # per doubling, over the last segment
    before = (y[-3] - y[-2]) / (x[-2] - x[-3])
    ratio = min(max(gain / before, 0.0), MAX_RATIO) if before > 0 else 0.0
    doublings = at - x[-1]
    return float(y[-1] - gain * ratio * (1 - ratio**doublings) / (1 - ratio))


def choose_width(
    seconds_per_step: Mapping[int, float], budget_seconds: float, probed: tuple[int, ...] = ()
) -> Sizing:
    """The width whose curve is lowest at the steps `budget_seconds` buys it (ties: the narrower)."""
    candidates = []
    for width in sorted(CURVES):
        seconds = seconds_per_step[width]
        steps = max(1, int(budget_seconds * TRAIN_SHARE / seconds))
        loss = expected_loss(width, steps)
        candidates.append(SizedWidth(width, seconds, steps, round(loss, 4), width in probed))
    best = min(candidates, key=lambda c: (c.expected_loss, c.width))
    return Sizing(width=best.width, budget_seconds=budget_seconds, candidates=tuple(candidates))


def fitted_seconds(measured: Mapping[int, float]) -> dict[int, float]:
    """Every width's seconds per step from those measured: linear in log(width) and log(seconds)
    between two measured widths (a power law per segment, which the matrix products' w² and the
    per-step overheads bend), along the end segments beyond them."""
    widths = sorted(measured)
    x = np.log(widths)
    y = np.log([measured[w] for w in widths])
    fitted = {}
    for w in CURVES:
        if w in measured:
            fitted[w] = measured[w]
            continue
        i = int(np.clip(np.searchsorted(x, math.log(w)) - 1, 0, len(x) - 2))
        slope = (y[i + 1] - y[i]) / (x[i + 1] - x[i])
        fitted[w] = float(math.exp(y[i] + slope * (math.log(w) - x[i])))
    return fitted


def probe_seconds(
    config: TrainConfig,
    vocab_size: int,
    train_ids: np.ndarray,
    device: torch.device,
    precision: str,
    width: int,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds of one training step of a `width`-wide network on this run's first window (the
    network is thrown away; the caller keeps the RNG as it was)."""
    network = CharRNN(replace(config, hidden_size=width).model_config(vocab_size)).to(device)
    optimizer = torch.optim.AdamW(network.parameters(), lr=config.lr)
    chars = config.batch_size * config.seq_len
    window = np.resize(train_ids[: chars + 1], chars + 1)  # a tiny corpus repeats
    ids = ids_to_device(window, device)
    inputs, targets = ids[:-1].view(config.batch_size, -1), ids[1:].view(config.batch_size, -1)
    parameters = list(network.parameters())
    times = []
    for i in range(PROBE_WARMUP + PROBE_STEPS):
        start = clock()
        train_step(
            network, parameters, optimizer, inputs, targets, None,
            lr=config.lr, grad_clip=config.grad_clip, precision=precision,
        )  # fmt: skip
        synchronize(device)
        if i >= PROBE_WARMUP:
            times.append(clock() - start)
    return min(times)


def size_network(
    config: TrainConfig,
    vocab_size: int,
    train_ids: np.ndarray,
    device: torch.device,
    precision: str,
    probe: Callable[..., float] | None = None,
) -> Sizing:
    """Probe PROBED widths, and choose (the torch RNG left as it was)."""
    assert config.max_minutes is not None
    probe = probe or probe_seconds
    rng = torch.get_rng_state()
    try:
        measured = {w: probe(config, vocab_size, train_ids, device, precision, w) for w in PROBED}
    finally:
        torch.set_rng_state(rng)
    return choose_width(fitted_seconds(measured), config.max_minutes * 60, probed=PROBED)


def describe_sizing(sizing: Sizing) -> str:
    """One line for people: the width chosen, and what the others would have had."""
    others = ", ".join(f"{c.width}: {c.steps:,} steps → {c.expected_loss:.3f}" for c in sizing.candidates)
    return (
        f"network sized to the {sizing.budget_seconds / 60:g}-minute budget: --hidden {sizing.width} "
        f"(steps this machine buys each width → the sizing sweep's nats/char: {others}; "
        "give --hidden to choose)"
    )
