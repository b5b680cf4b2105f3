"""Simple features of a text, one number per character, for the probe to find units that track
them (Karpathy, Johnson & Fei-Fei 2015 found cells for quotes, line position and bracket depth).

Each value describes the text just after its character is read, as the model's state does:
the opening quote itself is inside the quotes, the closing one is not; a newline is at line
position 0 and the character after it at 1.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

OPENERS, CLOSERS = "([{", ")]}"
PUNCTUATION = ".,;:!?"
# A speaker's line in a play (Tiny Shakespeare): "ROMEO:", "First Citizen:", "KING RICHARD III:",
# alone on its line after an empty line (or at the start of the text).
SPEAKER = re.compile(r"[A-Z][A-Za-z' ]{0,38}:")


def in_quotes(text: str) -> np.ndarray:
    """1 from an opening double quote up to (not including) its closing one; a straight quote
    (") opens and closes by turns, curly ones (“ ”) say which they are."""
    out, inside = np.zeros(len(text)), False
    for t, ch in enumerate(text):
        if ch == '"':
            inside = not inside
        elif ch in "“”":
            inside = ch == "“"
        out[t] = inside
    return out


def bracket_depth(text: str) -> np.ndarray:
    """How many (, [ and { are open; a closer with none open is ignored."""
    out, depth = np.zeros(len(text)), 0
    for t, ch in enumerate(text):
        if ch in OPENERS:
            depth += 1
        elif ch in CLOSERS:
            depth = max(0, depth - 1)
        out[t] = depth
    return out


def line_position(text: str) -> np.ndarray:
    """Characters read since the last newline (0 at the newline itself)."""
    out, position = np.zeros(len(text)), 0
    for t, ch in enumerate(text):
        position = 0 if ch == "\n" else position + 1
        out[t] = position
    return out


def word_start(text: str) -> np.ndarray:
    """1 at the first letter or digit of a word: one that follows neither a letter or digit nor
    an apostrophe inside a word ("don't" is one word)."""
    out = np.zeros(len(text))
    for t, ch in enumerate(text):
        before = text[t - 1] if t > 0 else " "
        inner_apostrophe = before == "'" and t > 1 and text[t - 2].isalnum()
        out[t] = ch.isalnum() and not before.isalnum() and not inner_apostrophe
    return out


def speaker_line(text: str) -> np.ndarray:
    """1 on the characters of a speaker's name line ("ROMEO:"), not on the newline that ends it."""
    out = np.zeros(len(text))
    start, previous_empty = 0, True
    for line in text.split("\n"):
        if previous_empty and SPEAKER.fullmatch(line):
            out[start : start + len(line)] = 1
        previous_empty = line == ""
        start += len(line) + 1
    return out


def after_punctuation(text: str) -> np.ndarray:
    """1 just after a . , ; : ! or ? is read."""
    return np.array([ch in PUNCTUATION for ch in text], dtype=np.float64)


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    values: Callable[[str], np.ndarray]  # text → (len(text),) float64


FEATURES = (
    Feature("in_quotes", 'inside double quotes ("…" or “…”)', in_quotes),
    Feature("bracket_depth", "how many ( [ { are open", bracket_depth),
    Feature("line_position", "characters since the last newline", line_position),
    Feature("word_start", "the first letter of a word", word_start),
    Feature("speaker_line", "on a speaker's name line, like ROMEO:", speaker_line),
    Feature("after_punctuation", "just after . , ; : ! ?", after_punctuation),
)


def feature_matrix(text: str, features: tuple[Feature, ...] = FEATURES) -> np.ndarray:
    """(len(text), K): each feature's values, a column each."""
    return np.stack([f.values(text) for f in features], axis=1) if features else np.zeros((len(text), 0))
