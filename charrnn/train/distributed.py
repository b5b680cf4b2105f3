"""Data-parallel training across processes started by `torchrun` (torch.distributed, env://).

Without torchrun nothing here does anything: a World of size 1. With it, every process (rank)
owns a contiguous block of the global batch's streams, DistributedDataParallel averages the
gradients, and rank 0 alone reports, validates and writes checkpoints. The few decisions that
must agree across ranks (stop now? how far along the clock is the run? did any rank diverge?)
are settled with one small all-reduce per step.
"""

from __future__ import annotations

import collections
import importlib
import os
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from charrnn.errors import ConfigError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_env() -> World:
    """The process's place among torchrun's workers (a World of one without torchrun)."""
    env = os.environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return World()
    return World(
        rank=int(env["RANK"]),
        size=int(env["WORLD_SIZE"]),
        local_rank=int(env.get("LOCAL_RANK", 0)),
        local_size=int(env.get("LOCAL_WORLD_SIZE", 1)),
    )


def start(world: World, device: torch.device) -> torch.device:
    """Join the process group (gloo on CPUs, NCCL on GPUs); the device this rank uses."""
    if not world.active:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    # torch._dynamo imported while a process group exists keeps that group alive after
    # destroy_process_group(), and AdamW's constructor imports it. The group's worker threads then
    # lived on into interpreter exit, where one of them, still releasing the last collective's
    # tensors, needed the GIL from a finalizing interpreter: the thread was cancelled inside C++
    # and the rank aborted ("terminate called without an active exception", SIGABRT; gdb on a
    # core dump). Imported before the group exists, it holds nothing, and `stop` joins every
    # thread of the group before training returns (tests/test_distributed.py checks that).
    importlib.import_module("torch._dynamo")

    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


# The latest collectives' work objects, held here so that this thread, not one of gloo's, lets
# go of them and of the Python tensors in them.
#
# A gloo worker thread that releases the last reference to a finished work must take the GIL to
# release its Python tensors. At the end of training the main thread frees the process group
# while holding the GIL (DDP's Reducer held the last reference to it) and joins those workers:
# a worker still waiting for the GIL then waits for ever, and so does the rank, after its last
# step (gdb: ~ProcessGroupGloo joining a runloop blocked in ~AsyncAllreduceWork; about half of
# the runs on a busy 2-core machine, tests/test_distributed.py). So charrnn's own collectives
# keep their works (a work is freed by its worker only once it is done there, long before
# RECENT_WORKS later ones are), and `stop` waits on a barrier, then gives the workers the GIL
# for GIL_HANDOFF_SECONDS to finish releasing DDP's, before it frees the group.
RECENT_WORKS = 16
GIL_HANDOFF_SECONDS = 0.05
_recent: collections.deque[Any] = collections.deque(maxlen=RECENT_WORKS)


def _wait(work: Any) -> None:
    work.wait()
    _recent.append(work)


def stop(world: World) -> None:
    if world.active and dist.is_initialized():
        _wait(dist.barrier(async_op=True))
        time.sleep(GIL_HANDOFF_SECONDS)  # sleeping releases the GIL
        dist.destroy_process_group()
    _recent.clear()


def rows_of(world: World, batch_size: int) -> slice:
    """The contiguous block of the global batch's streams that this rank trains."""
    if batch_size % world.size:
        raise ConfigError(
            f"--batch-size {batch_size} must be a multiple of the number of processes ({world.size})"
        )
    per_rank = batch_size // world.size
    return slice(world.rank * per_rank, (world.rank + 1) * per_rank)


class Collective:
    """The few decisions every rank must share, each settled by one small all-reduce on the CPU
    (a gloo group, so it never waits for a GPU); without torchrun, the values themselves."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.group: Any = None  # the default group, where it is gloo's
        if world.active and dist.get_backend() != "gloo":
            self.group = dist.new_group(backend="gloo")

    def max(self, values: list[float]) -> list[float]:
        """Element-wise maximum over ranks."""
        if not self.world.active:
            return values
        tensor = torch.tensor(values, dtype=torch.float64)
        _wait(dist.all_reduce(tensor, op=dist.ReduceOp.MAX, group=self.group, async_op=True))
        return tensor.tolist()


def mean(world: World, value: torch.Tensor) -> torch.Tensor:
    if world.active:
        value = value.clone()
        _wait(dist.all_reduce(value, op=dist.ReduceOp.SUM, async_op=True))
        value /= world.size
    return value


def gather_streams(world: World, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Every rank's (L, b, H) carried state joined into the global batch's (L, B, H)."""
    if not world.active:
        return state
    joined = []
    for tensor in state:
        parts = [torch.empty_like(tensor) for _ in range(world.size)]
        _wait(dist.all_gather(parts, tensor.contiguous(), async_op=True))
        joined.append(torch.cat(parts, dim=1))
    return tuple(joined)


def barrier(world: World) -> None:
    if world.active:
        _wait(dist.barrier(async_op=True))
