"""Text generation: run the prime once as a sequence, then one recurrent step per new character.

The growing text is never re-fed: the state after the prime is carried, and each new character
costs exactly one NumpyStepper.step (stepper.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from charrnn.data.vocab import Vocabulary
from charrnn.errors import ConfigError
from charrnn.generate.beam import beam_search
from charrnn.generate.stepper import make_stepper, primed
from charrnn.model.network import READ_CHUNK, CharRNN, eval_mode

MAX_BEAM = 1024  # hypotheses: each is a row of one batched step


@dataclass(frozen=True)
class SampleConfig:
    length: int = 1000
    temperature: float = 0.8  # 0 = greedy (argmax)
    top_k: int | None = None
    top_p: float | None = None
    num_samples: int = 1
    beam: int | None = None  # beam search with this many hypotheses: deterministic, temperature 1

    def __post_init__(self) -> None:
        if self.length < 0:
            raise ConfigError(f"--length must be >= 0, not {self.length}")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ConfigError(f"--temperature must be >= 0 (0 = greedy), not {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ConfigError(f"--top-k must be >= 1, not {self.top_k}")
        if self.top_p is not None and not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"--top-p must be in (0, 1], not {self.top_p}")
        if self.num_samples < 1:
            raise ConfigError(f"--num-samples must be >= 1, not {self.num_samples}")
        if self.beam is not None:
            if self.beam < 1:
                raise ConfigError(f"--beam must be >= 1, not {self.beam}")
            if self.beam > MAX_BEAM:
                raise ConfigError(f"--beam must be <= {MAX_BEAM}, not {self.beam}")
            if self.num_samples > 1 or self.top_k is not None or self.top_p is not None:
                raise ConfigError(
                    "--beam finds the one most probable text: not with --num-samples, --top-k or --top-p"
                )


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Set to -inf every logit outside the top-k and outside the nucleus of mass top-p."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        mass_before = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        mass_before = mass_before - torch.softmax(sorted_logits, dim=-1)
        drop_sorted = mass_before >= top_p  # keeps the smallest prefix reaching top_p (>= 1 char)
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, -math.inf)
    return logits


class NextCharacter:
    """Draws the next character of each stream from logits (B, V), reproducibly from a seed.

    Without top-k/top-p this is the Gumbel-max trick: argmax(logits + T·g) with g ~ Gumbel(0, 1)
    is distributed as softmax(logits / T), and the noise for many steps is drawn in one call.
    """

    def __init__(self, config: SampleConfig, vocab_size: int, generator: torch.Generator, block: int = 256):
        self.config = config
        self.generator = generator
        self.shape = (block, config.num_samples, vocab_size)
        self.noise = np.empty(0, dtype=np.float32)
        self.used = block
        self.scratch = np.empty((config.num_samples, vocab_size), dtype=np.float32)

    def _gumbel(self) -> np.ndarray:
        if self.used == self.shape[0]:
            noise = torch.rand(self.shape, generator=self.generator).numpy()  # float32
            np.maximum(noise, 1e-20, out=noise)  # NumPy's log is vectorised; torch's ~10x slower here
            np.log(noise, out=noise)
            np.negative(noise, out=noise)
            np.log(noise, out=noise)
            np.multiply(noise, -self.config.temperature, out=noise)
            self.noise = noise
            self.used = 0
        self.used += 1
        return self.noise[self.used - 1]

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        """logits (B, V) float32 → ids (B,) int64."""
        cfg = self.config
        if cfg.temperature == 0:
            return logits.argmax(axis=-1)
        if cfg.top_k is None and cfg.top_p is None:
            np.add(logits, self._gumbel(), out=self.scratch)
            return self.scratch.argmax(axis=-1)
        filtered = filter_logits(torch.from_numpy(logits) / cfg.temperature, cfg.top_k, cfg.top_p)
        probs = torch.softmax(filtered, dim=-1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(-1).numpy()


def generate_ids(
    model: CharRNN,
    prime_ids: np.ndarray,
    config: SampleConfig,
    generator: torch.Generator,
    prime_chunk: int = READ_CHUNK,
) -> Iterator[np.ndarray]:
    """Yield, `config.length` times, the next character id of each of the B streams: (B,) int64.

    `prime_ids` (at least one id) is run once as a sequence on the model's device, `prime_chunk`
    characters at a time (so a long prime needs the memory of one chunk); every new character
    then costs one step of a NumpyStepper, on the CPU.
    """
    if len(prime_ids) == 0:
        raise ValueError("generation needs at least one prime character")
    with eval_mode(model):  # the prime read once, whatever the batch: its state is every row's
        last_logits, state = primed(model, prime_ids, prime_chunk)
        stepper = make_stepper(model, config.num_samples, state)
        next_logits = np.repeat(last_logits, config.num_samples, axis=0)  # (B, V)
        choose = NextCharacter(config, model.config.vocab_size, generator)
        for _ in range(config.length):
            ids = choose(next_logits)  # (B,)
            yield ids
            next_logits = stepper.step(ids)


def sample_text(
    model: CharRNN,
    vocab: Vocabulary,
    prime: str,
    length: int,
    temperature: float = 0.8,
    seed: int = 0,
) -> str:
    """One sample as a string (used for the preview during training and in tests)."""
    generator = torch.Generator().manual_seed(seed)
    config = SampleConfig(length=length, temperature=temperature)
    ids = [int(step[0]) for step in generate_ids(model, vocab.encode(prime), config, generator)]
    return vocab.decode(ids)


def sample_pieces(
    model: CharRNN,
    vocab: Vocabulary,
    prime: str,
    config: SampleConfig,
    generator: torch.Generator,
    stop: str | None = None,
) -> Iterator[tuple[int, str]]:
    """Yield (sample index, text) in printing order: sample 0 character by character as it is
    generated, the other samples of the batch whole once generation ends.

    A sample ends after its first occurrence of `stop` (included); generation ends when every
    sample has ended or `config.length` characters were generated.
    """
    start = vocab.encode(prime) if prime else vocab.encode(vocab.line_start)
    if config.beam is not None:  # the whole text is known only at the end of the search
        found = beam_search(model, vocab, start, config.length, config.beam, stop)
        yield 0, vocab.decode(found.ids.tolist())
        return
    texts: list[list[str]] = [[] for _ in range(config.num_samples)]
    tails = [""] * config.num_samples
    done = [False] * config.num_samples
    for ids in generate_ids(model, start, config, generator):
        for b, char_id in enumerate(ids.tolist()):
            if done[b]:
                continue
            char = vocab.chars[char_id]
            texts[b].append(char)
            if b == 0:
                yield 0, char
            if stop:
                tails[b] = (tails[b] + char)[-len(stop) :]
                done[b] = tails[b] == stop
        if all(done):
            break
    for b in range(1, config.num_samples):
        yield b, "".join(texts[b])
