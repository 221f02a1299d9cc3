"""Payout regimes: which scores pay and which multiplier combinations a slot may choose."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import ConfigError

#: Score keys used everywhere (design §1).
SCORE_KEYS: tuple[str, ...] = ("corr", "mmc", "tc", "corr60", "mmc60", "bmc")


@dataclass(frozen=True)
class Regime:
    """A payout regime.

    `scores` are score keys in a fixed order; each combination is a tuple of
    multipliers in that order (per NMR staked, per unit of score).
    """

    name: str
    scores: tuple[str, ...]
    combinations: tuple[tuple[float, ...], ...]

    @property
    def single(self) -> bool:
        """True when a slot cannot choose multipliers (one combination)."""
        return len(self.combinations) == 1

    @property
    def fixed_leverage(self) -> float | None:
        """Σ_k p_k of the only combination, or None when slots can choose."""
        return float(sum(self.combinations[0])) if self.single else None

    def max_multiplier(self, score: str) -> float:
        i = self.scores.index(score)
        return max(c[i] for c in self.combinations)

    def as_dict(self, combo: int) -> dict[str, float]:
        return dict(zip(self.scores, self.combinations[combo]))

    def index_of(self, multipliers: dict[str, float]) -> int | None:
        """Index of the combination equal to `multipliers`, or None."""
        want = tuple(float(multipliers.get(k, 0.0)) for k in self.scores)
        for i, c in enumerate(self.combinations):
            if all(abs(a - b) < 1e-12 for a, b in zip(c, want)):
                return i
        return None

    def zero_combination(self) -> int | None:
        """Index of the all-zero combination (an idle slot), if the regime has one."""
        for i, c in enumerate(self.combinations):
            if all(v == 0 for v in c):
                return i
        return None


def _grid(corr: list[float], tc: list[float]) -> tuple[tuple[float, ...], ...]:
    return tuple((a, b) for a in corr for b in tc)


_HALVES_0_3 = [x / 2 for x in range(0, 7)]

PRESETS: dict[str, Regime] = {
    # The seed's rules (2023): corr 0/0.5/1 × TC 0..3 in steps of 0.5 (21 combinations).
    "classic-2023": Regime("classic-2023", ("corr", "tc"), _grid([0.0, 0.5, 1.0], _HALVES_0_3)),
    # From round 589: corr up to 2x; TC 0.5x or 1x only together with 2x corr.
    "classic-2023-r589": Regime(
        "classic-2023-r589",
        ("corr", "tc"),
        tuple((c, 0.0) for c in (0.0, 0.5, 1.0, 1.5, 2.0)) + ((2.0, 0.5), (2.0, 1.0)),
    ),
    # Since 2024-01-02: fixed 0.5×CORR + 2×MMC, a slot chooses model and side only.
    "classic-2024": Regime("classic-2024", ("corr", "mmc"), ((0.5, 2.0),)),
}


def custom_regime(scores: object, combinations: object, *, key: str = "payout") -> Regime:
    """Validate a regime written out in the fleet file (or given by the API)."""
    if not isinstance(scores, list) or not scores:
        raise ConfigError(f"{key}.scores: a non-empty list of score keys is required for a custom regime")
    seen: set[str] = set()
    for s in scores:
        if not isinstance(s, str) or s not in SCORE_KEYS:
            raise ConfigError(f"{key}.scores: unknown score {s!r}; known scores: {', '.join(SCORE_KEYS)}")
        if s in seen:
            raise ConfigError(f"{key}.scores: score {s!r} is listed twice")
        seen.add(s)
    if not isinstance(combinations, list) or not combinations:
        raise ConfigError(f"{key}.combinations: a non-empty list of multiplier lists is required")
    combos: list[tuple[float, ...]] = []
    for i, c in enumerate(combinations):
        where = f"{key}.combinations[{i}]"
        if not isinstance(c, list) or len(c) != len(scores):
            raise ConfigError(f"{where}: must be a list of {len(scores)} multipliers (in the order of {key}.scores)")
        vals = []
        for v in c:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"{where}: multiplier {v!r} is not a finite number")
            if v < 0:
                raise ConfigError(f"{where}: multiplier {v} is negative; a short position is a model choice (short_…), not a negative multiplier")
            vals.append(float(v))
        t = tuple(vals)
        if t in combos:
            raise ConfigError(f"{where}: combination {list(t)} is listed twice")
        combos.append(t)
    return Regime("custom", tuple(scores), tuple(combos))


def preset(name: str, *, key: str = "payout.regime") -> Regime:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"{key}: unknown regime {name!r}; choose one of {', '.join([*PRESETS, 'live', 'custom'])}") from None
