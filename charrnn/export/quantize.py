"""The weight types a page can carry (`--weights`): fp32 (exact), fp16 (half the bytes), int8
(a quarter: each matrix row scaled by its largest magnitude / 127 and rounded; vectors stay
fp32). `stored` gives the values the page computes with, so that their cost in nats/char can
be measured with charrnn's own perplexity (bench/export.py)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

WEIGHT_TYPES = ("fp16", "fp32", "int8")


def _int8(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = array.reshape(-1, array.shape[-1])
    scale = np.abs(rows).max(axis=1) / 127
    scale = np.where(scale > 0, scale, 1).astype(np.float32)
    q = np.clip(np.rint(rows / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def stored(array: np.ndarray, kind: str) -> np.ndarray:
    """`array` (float32) as the page holds it, back in float32."""
    if kind == "fp16":
        return array.astype(np.float16).astype(np.float32)
    if kind == "int8" and array.ndim == 2:
        q, scale = _int8(array)
        return (q.astype(np.float32) * scale[:, None]).reshape(array.shape)
    return array.astype(np.float32)


def _base64(array: np.ndarray) -> str:
    return base64.b64encode(
        np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
    ).decode()


def encode(array: np.ndarray, kind: str) -> dict[str, Any]:
    """One tensor for the page: {dtype, shape, data (base64, little-endian), scale (int8)}."""
    shape = list(array.shape)
    if kind == "fp16":
        return {"dtype": "fp16", "shape": shape, "data": _base64(array.astype(np.float16))}
    if kind == "int8" and array.ndim == 2:
        q, scale = _int8(array)
        return {"dtype": "int8", "shape": shape, "data": _base64(q), "scale": _base64(scale)}
    return {"dtype": "fp32", "shape": shape, "data": _base64(array.astype(np.float32))}
