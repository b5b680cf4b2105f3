"""The default network's width, sized to what the budget buys on this machine.

At equal steps a wider network is always better (the sizing sweep, bench/size_sweep.py, on
three texts); per second it is slower, so a budget buys it fewer steps. Where `--hidden` is not
given and `--max-minutes` alone limits a fresh GRU run, the run times two probe steps of the
narrowest and the widest width here (on its own data, device and precision: seconds per step
grow as a + b·width², which two widths fit), turns the budget into the steps each width would
take, and picks the width whose sweep curve is lowest at its steps. The probes' seconds count
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
    256: ((400, 1.5838), (800, 1.4760), (1600, 1.3878), (3200, 1.3350), (6400, 1.2977)),
    384: ((200, 1.6756), (400, 1.5359), (800, 1.4460), (1600, 1.3603), (3200, 1.3101), (6400, 1.2702)),
}

# The cell the sweep measured; other cells keep the default width (ModelConfig.hidden_size).
SIZED_CELLS = ("gru",)
# The share of the budget a plan spends on training steps (the rest: start-up, the probes,
# validations, saving); the same for every width, so it hardly moves the choice.
TRAIN_SHARE = 0.9
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
    """The sweep's mean loss of `width` after `steps`, linear in log(steps) between the grid's
    points and along its end segments beyond them."""
    points = CURVES[width]
    x = np.log([n for n, _ in points])
    y = np.array([loss for _, loss in points])
    at = math.log(max(steps, 1.0))
    if at <= x[0]:
        i = 0
    elif at >= x[-1]:
        i = len(x) - 2
    else:
        return float(np.interp(at, x, y))
    slope = (y[i + 1] - y[i]) / (x[i + 1] - x[i])
    return float(y[i] + slope * (at - x[i]))


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
    """Every width's seconds per step from two measured ones: a + b·width² (the recurrent
    matrix products grow with width², the rest does not)."""
    (w1, t1), (w2, t2) = sorted(measured.items())
    b = max(0.0, (t2 - t1) / (w2 * w2 - w1 * w1))
    a = max(0.0, t1 - b * w1 * w1)
    return {w: measured.get(w, a + b * w * w) for w in CURVES}


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
    """Probe the narrowest and the widest width, and choose (the torch RNG left as it was)."""
    assert config.max_minutes is not None
    probe = probe or probe_seconds
    rng = torch.get_rng_state()
    try:
        ends = (min(CURVES), max(CURVES))
        measured = {w: probe(config, vocab_size, train_ids, device, precision, w) for w in ends}
    finally:
        torch.set_rng_state(rng)
    return choose_width(fitted_seconds(measured), config.max_minutes * 60, probed=ends)


def describe_sizing(sizing: Sizing) -> str:
    """One line for people: the width chosen, and what the others would have had."""
    others = ", ".join(f"{c.width}: {c.steps:,} steps → {c.expected_loss:.3f}" for c in sizing.candidates)
    return (
        f"network sized to the {sizing.budget_seconds / 60:g}-minute budget: --hidden {sizing.width} "
        f"(steps this machine buys each width → the sizing sweep's nats/char: {others}; "
        "give --hidden to choose)"
    )
