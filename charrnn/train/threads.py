"""Threads that follow the machine: fewer while other processes hold its cores, all of them again
when they leave.

Two OpenMP threads on two cores meet at every parallel region of every step. Beside a busy
process one of them loses its core for a whole time slice at a time while the other waits for
it, and training fell to a quarter of its speed (bench/busy.py); one thread keeps the core it
gets. `ThreadTuner` watches the CPU time other processes take (Linux's /proc/stat, less this
process's own) and, where they take about a core, trials fewer threads, keeping whichever count
trains faster; at fewer threads it trials all of them again now and then, waiting longer after
each trial that loses.

It changes the count only where the run computes the same bits with either count (checked
once, when first needed: a copy of the model and optimizer takes the next step at each count,
and a short stretch of each kind of validation is measured, from the same random state), so a
run's bytes never depend on how busy the machine was.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence

import torch

WINDOW_SECONDS = 2.0  # training timed at one count before it is compared
BUSY_CORES = 0.5  # other processes' use (in cores) that makes fewer threads worth a trial
RETRY_SECONDS = 20.0  # the wait before the next trial, doubled after each trial that loses...
MAX_RETRY_SECONDS = 320.0  # ...up to this
MARGIN = 1.05  # a trial wins if it trains this much faster
PROBE_CHARS = 2_048  # validation characters measured at each count, to compare their bits


class CpuLoad:
    """Cores' worth of CPU time that other processes took on this process's CPUs, between calls;
    None where the system does not say (not Linux)."""

    def __init__(self) -> None:
        self.cpus = (
            {f"cpu{c}" for c in os.sched_getaffinity(0)} if hasattr(os, "sched_getaffinity") else set()
        )
        self.ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.last = self._read()

    def _read(self) -> tuple[float, float, float] | None:
        """(wall seconds, busy CPU seconds on our CPUs, this process's CPU seconds)."""
        try:
            with open("/proc/stat") as f:
                lines = [line.split() for line in f if line.startswith("cpu")]
        except OSError:
            return None
        busy = 0
        for name, *values in lines:
            if name in self.cpus:
                ticks = [int(v) for v in values[:8]]  # user nice system idle iowait irq softirq steal
                busy += sum(ticks) - ticks[3] - ticks[4]
        return time.monotonic(), busy / self.ticks, time.process_time()

    def others(self) -> float | None:
        now = self._read()
        if now is None or self.last is None or not self.cpus:
            return None
        (wall0, busy0, own0), (wall1, busy1, own1) = self.last, now
        self.last = now
        return max(0.0, (busy1 - busy0) - (own1 - own0)) / max(wall1 - wall0, 1e-9)


class ThreadTuner:
    def __init__(
        self,
        threads: int,
        same_bits: Callable[[int, int], bool],
        clock: Callable[[], float] = time.monotonic,
        load: Callable[[], float | None] | None = None,
        set_threads: Callable[[int], None] = torch.set_num_threads,
    ) -> None:
        """`threads`: the most to use; `same_bits(a, b)`: whether the step computes the same bits
        with a and with b threads."""
        self.most = self.current = threads
        self.same_bits, self.clock, self.set_threads = same_bits, clock, set_threads
        self.load = load if load is not None else CpuLoad().others
        self.allowed: bool | None = None if threads > 1 else False
        self.trial: tuple[int, float] | None = None  # (the count before the trial, its rate)
        self.steps, self.seconds = 0, 0.0
        self.retry, self.next_trial = RETRY_SECONDS, -math.inf

    def observe(self, steps: int, seconds: float) -> None:
        """`steps` were trained in `seconds` at the current count; maybe change it."""
        if self.allowed is False:
            return
        self.steps, self.seconds = self.steps + steps, self.seconds + seconds
        if self.seconds < WINDOW_SECONDS:
            return
        rate, self.steps, self.seconds = self.steps / self.seconds, 0, 0.0
        others, now = self.load(), self.clock()
        if self.trial is not None:
            before, before_rate = self.trial
            self.trial = None
            if rate >= before_rate * MARGIN:
                self.retry = RETRY_SECONDS
            else:
                self._use(before)
                self.retry = min(2 * self.retry, MAX_RETRY_SECONDS)
            self.next_trial = now + self.retry
            return
        if now < self.next_trial:
            return
        if self.current == self.most and others is not None and others >= BUSY_CORES:
            fewer = max(1, self.most - max(1, round(others)))
            if self._allowed(fewer):
                self.trial = (self.current, rate)
                self._use(fewer)
        elif self.current < self.most:
            self.trial = (self.current, rate)
            self._use(self.most)

    def _allowed(self, fewer: int) -> bool:
        if self.allowed is None:
            self.allowed = self.same_bits(self.most, fewer)
            self.set_threads(self.current)
        return self.allowed

    def _use(self, threads: int) -> None:
        self.current = threads
        self.set_threads(threads)


def same_bits_across_threads(compute: Callable[[], Sequence[torch.Tensor]], counts: Sequence[int]) -> bool:
    """Whether `compute` gives the same tensors bit for bit at each thread count, each time from
    the same random state; the random state is left as it was found, the thread count at the first."""
    rng = torch.get_rng_state()
    results = []
    for count in counts:
        torch.set_num_threads(count)
        torch.set_rng_state(rng)
        results.append([t.detach().clone() for t in compute()])
    torch.set_rng_state(rng)
    torch.set_num_threads(counts[0])
    first, *others = results
    return all(
        len(first) == len(other) and all(torch.equal(a, b) for a, b in zip(first, other, strict=True))
        for other in others
    )
