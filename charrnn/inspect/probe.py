"""Which units track which feature: Pearson's r between each feature and each column of the
trace, accumulated chunk by chunk (the activations are never all held as floats)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from charrnn.inspect.features import Feature
from charrnn.inspect.units import UnitLayout, UnitRef

RELATIVE_VARIANCE_FLOOR = 1e-12  # below this a column (or feature) counts as constant: r = 0


class Correlations:
    """Pearson r of K features (known in full beforehand) with N columns fed a chunk at a time.

    The features are centred first, so Σ (f - f̄) a is the covariance sum with no cancellation;
    the columns' variance comes from their sums in float64.
    """

    def __init__(self, features: np.ndarray) -> None:  # (T, K)
        self.length = len(features)
        self.centred = torch.from_numpy(features - features.mean(axis=0))  # (T, K) float64
        self.feature_ss = (self.centred**2).sum(dim=0)  # (K,)
        self.cross: torch.Tensor | None = None  # (K, N) Σ (f - f̄) a
        self.total = self.squares = torch.zeros(0, dtype=torch.float64)  # (N,) Σ a, Σ a²
        self.seen = 0

    def add(self, start: int, columns: torch.Tensor) -> None:
        """The columns' values (T, N) at text positions start… start + T - 1."""
        a = columns.detach().to("cpu", torch.float64)
        cross = self.centred[start : start + len(a)].T @ a
        if self.cross is None:
            self.cross, self.total, self.squares = cross, a.sum(dim=0), (a * a).sum(dim=0)
        else:
            self.cross += cross
            self.total += a.sum(dim=0)
            self.squares += (a * a).sum(dim=0)
        self.seen += len(a)

    def r(self) -> np.ndarray:
        """(K, N) Pearson r; 0 where a feature or a column does not vary."""
        if self.cross is None or self.seen != self.length:
            raise ValueError(f"fed {self.seen} of {self.length} positions")
        column_ss = (self.squares - self.total**2 / self.length).clamp(min=0)  # (N,)
        floor = RELATIVE_VARIANCE_FLOOR * self.squares.clamp(min=1e-300)
        varies = (column_ss > floor)[None, :] & (self.feature_ss > 0)[:, None]
        denominator = torch.sqrt(self.feature_ss[:, None] * column_ss[None, :])
        r = torch.where(varies, self.cross / denominator.clamp(min=1e-300), torch.zeros_like(self.cross))
        return r.clamp(-1, 1).numpy()


@dataclass(frozen=True)
class FoundUnits:
    """The units whose activation correlates best with one feature, strongest first."""

    feature: Feature
    varies: bool  # False: the feature is constant over this text (e.g. no quotes in it)
    units: tuple[tuple[UnitRef, float], ...]  # (unit, r)

    def to_dict(self) -> dict[str, object]:
        return {
            "feature": self.feature.name,
            "description": self.feature.description,
            "varies": self.varies,
            "units": [{**ref.to_dict(), "r": round(r, 4)} for ref, r in self.units],
        }


def best_units(
    r: np.ndarray, features: tuple[Feature, ...], varies: np.ndarray, layout: UnitLayout, top: int
) -> list[FoundUnits]:
    """For each feature the `top` columns of largest |r|."""
    found = []
    for k, feature in enumerate(features):
        order = np.argsort(-np.abs(r[k]), kind="stable")[:top] if varies[k] else np.zeros(0, dtype=int)
        units = tuple((layout.ref(int(i)), float(r[k, i])) for i in order.tolist())
        found.append(FoundUnits(feature, bool(varies[k]), units))
    return found
