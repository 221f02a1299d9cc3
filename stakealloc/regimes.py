"""Payout regimes: which scores pay, with which multiplier combinations, factors and clip.

Scores are named by the API's `displayName` (`v2_corr20`, `mmc`, `alpha`, …) and keep their
identity: there is no closed list of keys and no alias table, so an unfamiliar payout score is
never replaced by a familiar one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import ApiError, ConfigError
from .tolerance import IMPROVEMENT, ROUNDING

#: A score name: the API's displayName, or a column of a score table.
SCORE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
#: Rounds between a round and the one where its scores are usable, beyond the scoring days: one daily round
#: per business day, plus processing.
LAG_MARGIN = 2
#: Combinations a `live` grid may have (product over scores).
MAX_COMBINATIONS = 1000
#: Round numbers anywhere (API, snapshots, caches) are whole numbers in 1..MAX_ROUND.
MAX_ROUND = 100_000
#: A multiplier anywhere (custom regimes, the API's configurations) is at most this per NMR and unit of score.
MAX_MULTIPLIER = 1000.0


@dataclass(frozen=True)
class ScoreSpec:
    """One paying score's identity and horizon, as the API's round score configuration states it.

    Days are business days (one daily round each); None where unknown.
    """

    display_name: str
    name: str | None = None
    version: str | None = None
    total_score_days: int | None = None
    returns_lag_days: int | None = None
    data_delay_days: int | None = None

    @property
    def resolve_days(self) -> int | None:
        """Days from a round until its score is final (dataDelay + returnsLag + totalScore), or None."""
        parts = (self.total_score_days, self.returns_lag_days, self.data_delay_days)
        return None if any(p is None for p in parts) else int(sum(parts))  # type: ignore[arg-type]

    def identity(self) -> dict:
        return {"displayName": self.display_name, "name": self.name, "version": self.version}


def twenty_day(display_name: str) -> ScoreSpec:
    """A Classic 20-day score: 20 scoring days after 1 day of data delay and 2 days of returns lag.

    Its API `name` and `version` are not stated here (None): only the API states them."""
    return ScoreSpec(display_name, None, None, 20, 2, 1)


def sixty_day(display_name: str) -> ScoreSpec:
    """A Classic 60-day score (CORR60, MMC60): 60 scoring days after the same delay and lag (lag 65 rounds)."""
    return ScoreSpec(display_name, None, None, 60, 2, 1)


@dataclass(frozen=True)
class Regime:
    """A payout regime.

    `scores` are displayNames in a fixed order; each combination is a tuple of multipliers in that
    order (per NMR staked, per unit of score). `payout_factors` (per score) and `clip` are None where
    the rules do not state them (the fleet's `payout_factor` and `clip` apply). `origin` is `preset`,
    `custom` or `api`; `round` is the round whose configuration an `api` regime was read from.
    """

    name: str
    scores: tuple[str, ...]
    combinations: tuple[tuple[float, ...], ...]
    specs: tuple[ScoreSpec, ...] = ()
    payout_factors: tuple[float | None, ...] | None = None
    clip: float | None = None
    origin: str = "preset"
    round: int | None = None
    staking: str | None = None  # "fixed" | "per-round": the staking system the rules were paid under, if known

    def __post_init__(self) -> None:
        if not self.specs:
            object.__setattr__(self, "specs", tuple(ScoreSpec(k) for k in self.scores))
        assert tuple(s.display_name for s in self.specs) == self.scores

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
            if all(abs(a - b) < ROUNDING for a, b in zip(c, want)):
                return i
        return None

    def zero_combination(self) -> int | None:
        """Index of the all-zero combination (an idle slot), if the regime has one."""
        for i, c in enumerate(self.combinations):
            if all(v == 0 for v in c):
                return i
        return None

    def factors(self, default: float) -> tuple[float, ...]:
        """Payout factor per score: the stated one, else `default` (the fleet's payout_factor)."""
        if self.payout_factors is None:
            return tuple(default for _ in self.scores)
        return tuple(default if f is None else f for f in self.payout_factors)

    def describe(self) -> str:
        """`0.5×v2_corr20 + 2×mmc` for one combination; else the count of combinations."""
        if self.single:
            return " + ".join(f"{m:g}×{k}" for k, m in zip(self.scores, self.combinations[0]))
        return f"{len(self.combinations)} allowed combinations of {', '.join(self.scores)}"


def _grid(a: list[float], b: list[float]) -> tuple[tuple[float, ...], ...]:
    return tuple((x, y) for x in a for y in b)


_HALVES_0_3 = [x / 2 for x in range(0, 7)]
_CORR20 = twenty_day("v2_corr20")

PRESETS: dict[str, Regime] = {
    # Classic 2023: corr 0/0.5/1 × TC 0..3 in steps of 0.5 (21 combinations).
    "classic-2023": Regime("classic-2023", ("v2_corr20", "tc"), _grid([0.0, 0.5, 1.0], _HALVES_0_3),
                           (_CORR20, twenty_day("tc"))),
    # From round 589: corr up to 2x; TC 0.5x or 1x only together with 2x corr.
    "classic-2023-r589": Regime(
        "classic-2023-r589", ("v2_corr20", "tc"),
        tuple((c, 0.0) for c in (0.0, 0.5, 1.0, 1.5, 2.0)) + ((2.0, 0.5), (2.0, 1.0)),
        (_CORR20, twenty_day("tc")),
    ),
    # From 2024-01-02: fixed 0.5×CORR + 2×MMC, a slot chooses model and side only.
    "classic-2024": Regime("classic-2024", ("v2_corr20", "mmc"), ((0.5, 2.0),), (_CORR20, twenty_day("mmc")),
                           staking="fixed"),
    # From about 2026-01-01 (round ≈1175) to round 1342: fixed 0.75×CORR20 + 2.25×MMC, clip 0.05, fixed stakes
    # (third-party sources only: README).
    "classic-2026": Regime("classic-2026", ("v2_corr20", "mmc"), ((0.75, 2.25),), (_CORR20, twenty_day("mmc")),
                           clip=0.05, staking="fixed"),
    # From round 1343 (the "Ender-60" cutover, reported): 3×CORR60 + 15×MMC60, clip 1, payout factor 1, under
    # Atomic Blockchain Staking (per-round stakes), 60-day scores.
    "classic-r1343": Regime("classic-r1343", ("corr60", "mmc60"), ((3.0, 15.0),),
                            (sixty_day("corr60"), sixty_day("mmc60")), payout_factors=(1.0, 1.0), clip=1.0,
                            staking="per-round"),
}


def check_score_name(value: object, where: str) -> str:
    if not isinstance(value, str) or not SCORE_NAME.match(value):
        raise ConfigError(f"{where}: {value!r} is not a score name (the API's displayName, e.g. \"v2_corr20\")")
    return value


def custom_regime(scores: object, combinations: object, *, key: str = "payout") -> Regime:
    """Validate a regime written out in the fleet file: any displayNames, any list of combinations."""
    if not isinstance(scores, list) or not scores:
        raise ConfigError(f"{key}.scores: a non-empty list of score names (displayNames) is required for a "
                          "custom regime")
    seen: set[str] = set()
    for s in scores:
        check_score_name(s, f"{key}.scores")
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
                raise ConfigError(f"{where}: multiplier {v} is negative; a short position is a model choice "
                                  "(short_…), not a negative multiplier")
            if v > MAX_MULTIPLIER:
                raise ConfigError(f"{where}: multiplier {v:g} is more than {MAX_MULTIPLIER:g}")
            vals.append(float(v))
        t = tuple(vals)
        if t in combos:
            raise ConfigError(f"{where}: combination {list(t)} is listed twice")
        combos.append(t)
    if not any(any(v > 0 for v in c) for c in combos):
        raise ConfigError(f"{key}.combinations: no combination pays (every multiplier is 0); a slot could carry "
                          "nothing")
    return Regime("custom", tuple(scores), tuple(combos), origin="custom")


def preset(name: str, *, key: str = "payout.regime") -> Regime:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"{key}: unknown regime {name!r}; choose one of "
                          f"{', '.join([*PRESETS, 'live', 'custom'])}") from None


# --- the API's round score configurations --------------------------------------------


@dataclass(frozen=True)
class ScoreConfig:
    """One item of a round's `roundScoreConfigs` (multipliers per NMR per unit of score)."""

    spec: ScoreSpec
    is_payout: bool
    min_multiplier: float
    max_multiplier: float
    default_multiplier: float
    clip: float | None
    payout_factor: float | None

    def grid_size(self, step: float) -> int:
        """How many values `allowed(step)` has, computed without building them."""
        lo, hi = self.min_multiplier, self.max_multiplier
        if hi - lo <= ROUNDING:
            return 1
        n = math.floor((hi - lo) / step + IMPROVEMENT)
        return n + 1 + (hi - (lo + n * step) > IMPROVEMENT)

    def allowed(self, step: float) -> tuple[float, ...]:
        """min = max: that value; else min, min + step, …, with max always included."""
        lo, hi = self.min_multiplier, self.max_multiplier
        if hi - lo <= ROUNDING:
            return (lo,)
        n = int(math.floor((hi - lo) / step + IMPROVEMENT))  # a step that divides the range exactly counts
        vals = [round(lo + i * step, 10) for i in range(n + 1)]
        if hi - vals[-1] > IMPROVEMENT:
            vals.append(hi)
        return tuple(vals)


def payout_configs(configs: list[ScoreConfig]) -> list[ScoreConfig]:
    return [c for c in configs if c.is_payout]


def check_multipliers(configs: list[ScoreConfig], round_number: int) -> None:
    """ApiError unless every multiplier the configurations state is finite, in 0..MAX_MULTIPLIER, with
    min ≤ max (the fleet file's own bounds: what the API states must be writable there too)."""
    for c in configs:
        for v in (c.min_multiplier, c.max_multiplier, c.default_multiplier):
            if not (math.isfinite(v) and 0 <= v <= MAX_MULTIPLIER):
                raise ApiError(f"round {round_number}: {c.spec.display_name}: multiplier {v!r} is not in "
                               f"0..{MAX_MULTIPLIER:g}")
        if c.min_multiplier > c.max_multiplier:
            raise ApiError(f"round {round_number}: {c.spec.display_name}: minMultiplier {c.min_multiplier:g} is "
                           f"above maxMultiplier {c.max_multiplier:g}")


def regime_from_configs(configs: list[ScoreConfig], round_number: int, *, step: float) -> Regime:
    """The regime a round's payout configurations state (scores in the API's order)."""
    pay = payout_configs(configs)
    if not pay:
        raise ApiError(f"round {round_number}: no payout score in its roundScoreConfigs")
    names = [c.spec.display_name for c in pay]
    if len(set(names)) != len(names):
        raise ApiError(f"round {round_number}: a payout score is listed twice ({', '.join(names)})")
    clips = sorted({c.clip for c in pay if c.clip is not None})
    if len(clips) > 1:
        raise ApiError(f"round {round_number}: payout scores have different clipThresholds "
                       f"({', '.join(f'{c:g}' for c in clips)}); "
                       "stakealloc does not know how such rules combine")
    check_multipliers(pay, round_number)
    # Counted before any grid is built: a huge maxMultiplier or a tiny step must not build millions of values.
    n = math.prod(c.grid_size(step) for c in pay)
    if n > MAX_COMBINATIONS:
        shown = f"{n}" if n < 10 ** 9 else f"{n:.3g}"
        raise ConfigError(f"payout.multiplier_step: {step:g} gives {shown} multiplier combinations for round "
                          f"{round_number} (at most {MAX_COMBINATIONS}); choose a larger step")
    grids = [c.allowed(step) for c in pay]
    combos = [()]
    for g in grids:
        combos = [c + (v,) for c in combos for v in g]
    if not any(any(v > 0 for v in c) for c in combos):
        raise ApiError(f"round {round_number}: every payout multiplier is 0")
    return Regime("live", tuple(names), tuple(combos), tuple(c.spec for c in pay),
                  payout_factors=tuple(c.payout_factor for c in pay), clip=clips[0] if clips else None,
                  origin="api", round=round_number, staking="per-round")
