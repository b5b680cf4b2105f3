"""What options may be: the values some may take (and the one error for any other), and the
defaults several commands share.

No PyTorch here: configs validate their options before a command imports it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from charrnn.errors import ConfigError

DEFAULT_CHECKPOINT_DIR = Path("checkpoints")  # where train writes, and sample, measure, info, plot read
DEFAULT_VAL_FRAC = 0.1  # of each corpus file, its last part: the validation part (data/corpus.py)
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
UNKNOWN_POLICIES = ("skip", "error")  # characters outside a model's vocabulary, in a text to measure
FLUSH_SECONDS = 0.02  # a streamed sample (stdout, serve) goes out every this much generation


def check_choice(flag: str, value: object, allowed: Iterable[str]) -> None:
    """`value` must be one of `allowed`; else one clear error naming `flag` (e.g. "--cell")."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(f"{flag} must be one of {', '.join(allowed)}, not {value!r}")


# Config fields whose command-line flag is not their name with dashes.
_FLAGS = {"num_layers": "--layers", "hidden_size": "--hidden", "embed_size": "--embed"}


def flag_of(field: str) -> str:
    """The command-line flag that sets a config field: "--seq-len" for seq_len."""
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


@dataclass(frozen=True)
class Names:
    """How an error names what its caller set: a command's flag ("--skip-unknown"), or the
    keyword of `charrnn.Model`, which is also the field of the HTTP API ("skip_unknown")."""

    flags: bool

    def __call__(self, field: str) -> str:
        return flag_of(field) if self.flags else field

    def to_drop(self, field: str, value: str | None = None) -> str:
        """How to drop unknown characters instead: "add --skip-unknown to drop them", "--unknown
        skip drops them"; 'set skip_unknown to drop them', 'set unknown to "skip" to drop them'."""
        if self.flags:
            return f"{flag_of(field)} {value} drops them" if value else f"add {flag_of(field)} to drop them"
        return f'set {field} to "{value}" to drop them' if value else f"set {field} to drop them"


FLAGS = Names(flags=True)  # the commands
KEYWORDS = Names(flags=False)  # charrnn.load()'s Model and the HTTP API
