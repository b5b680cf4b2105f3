"""One step of truncated backpropagation through time (TBPTT), on one screen.

The training text is cut into `batch_size` contiguous streams (data/batching.py); a step takes
the next `seq_len` characters of every stream. The hidden state left by window k is where window
k+1 starts, carried detached: gradients flow through one window, information through all of them.

    window k:    x₁ x₂ … x_T  ──▶ loss = Σ_t −log p(x_{t+1} | x₁…x_t, state₀)
                 state₀ ─────▶ state_T ─┐  (detached)
    window k+1:                         └▶ state₀ of the next window
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from charrnn.model.network import State, detach_state
from charrnn.runtime import autocast


@dataclass(frozen=True)
class StepResult:
    loss: torch.Tensor  # mean cross-entropy per character, nats, still on the device (no sync)
    grad_norm: torch.Tensor  # the global gradient norm before clipping
    state: State  # the state to carry into the next window: detached, fp32


def train_step(
    forward: torch.nn.Module,
    parameters: Sequence[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,  # (B, T) character ids
    targets: torch.Tensor,  # (B, T) the next character of each input
    carried: State | None,  # the state left by the previous window; None: zeros
    *,
    lr: float,
    grad_clip: float,
    precision: str,
) -> StepResult:
    for group in optimizer.param_groups:
        group["lr"] = lr
    with autocast(inputs.device, precision):
        logits, state = forward(inputs, carried)  # (B, T, V)
    # Every time step of every stream counts, not only the last; dividing the sum by the number
    # of characters keeps --lr and --grad-clip independent of --batch-size and --seq-len.
    loss_sum = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="sum")
    loss = loss_sum / targets.numel()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # under torchrun, DistributedDataParallel averages the gradients over ranks
    grad_norm = torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
    optimizer.step()
    # fp32 whatever the autocast precision: the carried (and checkpointed) state is then the
    # same whether or not the run was interrupted in between.
    carried_on = tuple(t.float() for t in detach_state(state))
    return StepResult(loss=loss.detach(), grad_norm=grad_norm, state=carried_on)
