"""Threads that follow the machine: the tuner trials fewer threads beside a busy neighbour and
keeps whichever count trains faster, never changes anything on a quiet machine or where the
counts' bits differ, and the bit check leaves the random state as it found it.

The machine is simulated: a fake clock, a fake load and a speed per thread count."""

from __future__ import annotations

import torch

from charrnn.train import threads
from charrnn.train.threads import ThreadTuner, same_bits_across_threads


class Machine:
    """Steps per second at each thread count, and how busy the other processes keep it."""

    def __init__(self, rates: dict[int, float], others: float) -> None:
        self.rates, self.others, self.now = rates, others, 0.0
        self.threads = max(rates)
        self.set_calls: list[int] = []
        self.checked: list[tuple[int, int]] = []

    def set_threads(self, n: int) -> None:
        self.set_calls.append(n)
        self.threads = n

    def tuner(self, same_bits: bool = True) -> ThreadTuner:
        def check(a: int, b: int) -> bool:
            self.checked.append((a, b))
            return same_bits

        return ThreadTuner(
            max(self.rates),
            check,
            clock=lambda: self.now,
            load=lambda: self.others,
            set_threads=self.set_threads,
        )

    def train(self, tuner: ThreadTuner, seconds: float) -> list[int]:
        """Train for `seconds` in one-second logs; the count in force at each."""
        counts = []
        for _ in range(int(seconds)):
            tuner.observe(round(self.rates[self.threads]), 1.0)
            self.now += 1.0
            counts.append(self.threads)
        return counts


def test_a_quiet_machine_keeps_every_thread_and_is_never_checked():
    machine = Machine({1: 5.0, 2: 9.0}, others=0.0)
    counts = machine.train(machine.tuner(), 600)
    assert set(counts) == {2} and machine.set_calls == [] and machine.checked == []


def test_beside_a_busy_neighbour_fewer_threads_are_kept_where_they_train_faster():
    machine = Machine({1: 5.0, 2: 2.0}, others=1.0)
    counts = machine.train(machine.tuner(), 300)
    assert machine.checked == [(2, 1)]  # the bits compared once, before the first change
    assert counts[-1] == 1 and counts.count(1) > 0.8 * len(counts)
    assert 2 in counts[10:]  # all of them trialled again now and then (the neighbour may leave)


def test_all_threads_come_back_when_the_neighbour_leaves():
    machine = Machine({1: 5.0, 2: 2.0}, others=1.0)
    tuner = machine.tuner()
    machine.train(tuner, 60)
    assert machine.threads == 1
    machine.rates, machine.others = {1: 5.0, 2: 9.0}, 0.0
    counts = machine.train(tuner, threads.MAX_RETRY_SECONDS + 10)
    assert counts[-1] == 2


def test_a_trial_that_loses_goes_back_and_waits_longer_each_time():
    machine = Machine({1: 5.0, 2: 5.1}, others=1.0)  # busy, yet one thread is no faster
    tuner = machine.tuner()
    counts = machine.train(tuner, 2000)
    assert counts[-1] == 2
    trials = [i for i in range(1, len(counts)) if counts[i] == 1 and counts[i - 1] == 2]
    gaps = [b - a for a, b in zip(trials, trials[1:], strict=False)]
    assert len(trials) >= 3 and gaps == sorted(gaps) and gaps[-1] > gaps[0]
    assert counts.count(1) < 0.05 * len(counts)


def test_counts_whose_bits_differ_are_never_used():
    machine = Machine({1: 5.0, 2: 2.0}, others=1.0)
    counts = machine.train(machine.tuner(same_bits=False), 600)
    assert set(counts) == {2} and machine.checked == [(2, 1)]  # checked once, then left alone


def test_one_thread_to_begin_with_is_left_alone():
    machine = Machine({1: 5.0}, others=1.5)
    machine.train(machine.tuner(), 100)
    assert machine.set_calls == [] and machine.checked == []


def test_the_bit_check_compares_at_each_count_from_the_same_random_state():
    before = torch.get_num_threads()
    try:
        torch.manual_seed(0)
        rng = torch.get_rng_state()
        assert same_bits_across_threads(lambda: [torch.rand(4)], (2, 1))
        assert torch.equal(torch.get_rng_state(), rng)  # training goes on as if never called
        assert torch.get_num_threads() == 2
        assert not same_bits_across_threads(lambda: [torch.tensor(float(torch.get_num_threads()))], (2, 1))
        assert not same_bits_across_threads(lambda: [torch.rand(4)] * torch.get_num_threads(), (2, 1))
    finally:
        torch.set_num_threads(before)


def test_a_run_whose_threads_change_beside_a_busy_neighbour_computes_the_same_bytes(
    make_config, tmp_path, monkeypatch
):
    from conftest import Recorder
    from test_reproducible import assert_same_bytes

    from charrnn.train import thread_check
    from charrnn.train.loop import train

    before = torch.get_num_threads()
    run = {"max_steps": 40, "epochs": None, "eval_every": 10, "log_every": 1}
    try:
        train(make_config(**run, threads=2, checkpoint_dir=tmp_path / "quiet"))
        monkeypatch.setattr(threads.CpuLoad, "others", lambda self: 1.0)  # a neighbour takes a core
        monkeypatch.setattr(threads, "WINDOW_SECONDS", 0.0)  # every log is a window
        monkeypatch.setattr("charrnn.train.start.physical_cores", lambda: 2)
        checks: list[bool] = []

        def spy(compute, counts):
            checks.append(same_bits_across_threads(compute, counts))
            return checks[-1]

        monkeypatch.setattr(thread_check, "same_bits_across_threads", spy)
        recorder = Recorder()
        train(make_config(**run, threads=None, checkpoint_dir=tmp_path / "busy"), [recorder])
    finally:
        torch.set_num_threads(before)
    counts = {event.threads for event in recorder.logs}
    assert len(checks) == 1
    assert counts == ({1, 2} if checks[0] else {2})  # a trial at one thread where the bits allow
    assert_same_bytes(tmp_path / "quiet", tmp_path / "busy")
