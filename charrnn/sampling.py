"""Text generation: run the prime once, then one recurrent step per new character, state carried."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from charrnn.model import CharRNN
from charrnn.vocab import Vocabulary


@torch.no_grad()
def generate_ids(
    model: CharRNN,
    prime_ids: np.ndarray,
    length: int,
    temperature: float,
    generator: torch.Generator,
) -> Iterator[int]:
    """Yield `length` new character ids after `prime_ids` (at least one id); temperature 0 is greedy."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        inputs = torch.from_numpy(prime_ids.astype(np.int64)).to(device).unsqueeze(0)  # (1, P)
        logits, state = model(inputs)
        last = logits[0, -1].float()  # (V,)
        for _ in range(length):
            if temperature == 0:
                next_id = int(last.argmax())
            else:
                probs = torch.softmax(last / temperature, dim=-1)
                next_id = int(torch.multinomial(probs.cpu(), 1, generator=generator))
            yield next_id
            step_input = torch.tensor([[next_id]], device=device)  # (1, 1)
            logits, state = model(step_input, state)
            last = logits[0, -1].float()
    finally:
        model.train(was_training)


def sample_text(
    model: CharRNN,
    vocab: Vocabulary,
    prime: str,
    length: int,
    temperature: float = 0.8,
    seed: int = 0,
) -> str:
    generator = torch.Generator().manual_seed(seed)
    ids = generate_ids(model, vocab.encode(prime), length, temperature, generator)
    return vocab.decode(list(ids))
