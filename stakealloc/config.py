"""The fleet file: load once with tomllib into frozen dataclasses, or fail naming the key."""

from __future__ import annotations

import difflib
import hashlib
import math
import tomllib
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .types import SHORT, Objective, Ref, RiskMeasure, Side, SidePolicy, SolverName  # noqa: F401 (re-exported)
from .regimes import PRESETS, Regime, check_score_name, custom_regime, preset

NMR_SUPPLY = 11_000_000.0  # NMR's total supply: no stake, or fleet, can hold more
DEFAULT_LEVERAGE = 2.0  # exposure per NMR of total stake where slots choose multipliers


class Missing(StrEnum):
    """What a missing round inside the window means (never silently filled)."""

    DROP_ROUNDS = "drop-rounds"
    ZERO = "zero"


class Source(StrEnum):
    SNAPSHOT = "snapshot"
    NUMERAI = "numerai"


class Tournament(StrEnum):
    """Numerai tournaments served by the same API; `number` is the API's tournament id."""

    CLASSIC = "classic"
    SIGNALS = "signals"
    CRYPTO = "crypto"

    @property
    def number(self) -> int:
        return {"classic": 8, "signals": 11, "crypto": 12}[self.value]


# The default follows the evidence (README, "The slot objective"): on the example fleet, walked forward, the
# tracking plans tracked their targets more closely out of sample for CVaR, CDaR and MDD at ≥ 95 % of the
# exposure plans' mean payout and Sharpe.
DEFAULT_OBJECTIVE = Objective.TRACKING


LINKAGES = ("single", "complete", "average", "weighted", "centroid", "median", "ward")
CODEPENDENCES = (
    "pearson", "spearman", "kendall", "abs_pearson", "abs_spearman", "abs_kendall",
    "gerber1", "gerber2", "distance",
)


@dataclass(frozen=True)
class Portfolio:
    leverage: float  # target exposure per NMR of total slot stake
    leverage_given: bool
    lookback: int = 100  # resolved rounds in the window
    risk_measure: RiskMeasure = RiskMeasure.CVaR
    linkage: str = "single"
    codependence: str = "pearson"
    leaf_order: bool = True
    alpha: float = 0.05  # tail probability of CVaR, EVaR, CDaR, ...
    side: SidePolicy = SidePolicy.MEAN
    min_rounds: int = 60
    max_stale: int = 5
    missing: Missing = Missing.DROP_ROUNDS
    min_weight: float = 0.0
    max_correlation: float = 0.999


@dataclass(frozen=True)
class Payout:
    regime: Regime
    live: bool = False  # regime to be read from the open round's roundScoreConfigs (API)
    payout_factor: float = 1.0  # per score, where the rules state none
    clip: float = 0.05  # where the rules state none
    multiplier_step: float = 0.5  # grid step of a live score whose min < max

    @property
    def factors(self) -> tuple[float, ...]:
        """Payout factor per regime score: the rules' own, else the fleet's payout_factor."""
        return self.regime.factors(self.payout_factor)

    @property
    def clip_value(self) -> float:
        """The clip in force: the rules' own, else the fleet's."""
        return self.regime.clip if self.regime.clip is not None else self.clip


@dataclass(frozen=True)
class Data:
    source: Source = Source.SNAPSHOT
    snapshot: str = "bundled"  # "bundled" or an absolute path
    cache_dir: Path | None = None  # None: the per-user cache directory
    tournament: Tournament = Tournament.CLASSIC
    columns: tuple[tuple[str, str], ...] = ()  # (regime score, data column) substitutions, in file order

    @property
    def column_map(self) -> dict[str, str]:
        return dict(self.columns)


@dataclass(frozen=True)
class Solver:
    name: SolverName = SolverName.HIGHS
    time_limit: float = 60.0  # seconds
    change_penalty: float = 0.0  # per slot whose assignment changes: NMR (exposure), NMR per round (tracking)
    objective: Objective = Objective.TRACKING
    objective_given: bool = False  # stated in the file (assign, which has no scores, can only use exposure)


@dataclass(frozen=True)
class Slot:
    name: str
    stake: float | None  # NMR; None = fetch from the API
    current: Ref | None = None
    current_multipliers: tuple[float, ...] | None = None  # in regime score order
    pin: Ref | None = None
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fleet:
    models: tuple[str, ...]
    portfolio: Portfolio
    payout: Payout
    data: Data
    solver: Solver
    slots: tuple[Slot, ...]
    path: Path | None = None
    sha256: str = ""
    raw_multipliers: tuple[tuple[str, dict[str, float]], ...] = field(default=(), repr=False)

    @property
    def total_stake(self) -> float:
        stakes = [s.stake for s in self.slots]
        if any(s is None for s in stakes):
            raise ConfigError("slot stakes are not known yet (fetch them from the API first)")
        return float(sum(stakes))  # type: ignore[arg-type]

    def with_overrides(self, *, risk_measure: RiskMeasure | None = None, objective: "Objective | None" = None,
                       lookback: int | None = None, linkage: str | None = None) -> "Fleet":
        f = self
        if risk_measure is not None:
            f = replace(f, portfolio=replace(f.portfolio, risk_measure=risk_measure))
        if lookback is not None:
            f = replace(f, portfolio=replace(f.portfolio, lookback=lookback))
        if linkage is not None:
            f = replace(f, portfolio=replace(f.portfolio, linkage=linkage))
        if objective is not None:
            f = replace(f, solver=replace(f.solver, objective=objective))
        return f


# --- reading helpers -------------------------------------------------------


def _check_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else f"; allowed keys: {', '.join(allowed)}"
            raise ConfigError(f"{_join(where, key)}: unknown key{hint}")


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a table ([{key}])")
    return value


def _num(table: dict, key: str, where: str, default: float | None, *, lo: float | None = None,
         hi: float | None = None, lo_open: bool = False) -> float | None:
    if key not in table:
        return default
    v = table[key]
    name = _join(where, key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{name}: must be a number, got {type(v).__name__} {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise ConfigError(f"{name}: must be finite, got {v}")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ConfigError(f"{name}: must be {'>' if lo_open else '≥'} {lo:g}, got {v:g}")
    if hi is not None and v > hi:
        raise ConfigError(f"{name}: must be ≤ {hi:g}, got {v:g}")
    return v


def _int(table: dict, key: str, where: str, default: int, *, lo: int) -> int:
    if key not in table:
        return default
    v = table[key]
    name = _join(where, key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{name}: must be a whole number, got {type(v).__name__} {v!r}")
    if v < lo:
        raise ConfigError(f"{name}: must be ≥ {lo}, got {v}")
    return v


def _str(table: dict, key: str, where: str, default: str | None) -> str | None:
    if key not in table:
        return default
    v = table[key]
    if not isinstance(v, str):
        raise ConfigError(f"{_join(where, key)}: must be a string, got {type(v).__name__} {v!r}")
    return v


def _choice(table: dict, key: str, where: str, default: str, choices: tuple[str, ...]) -> str:
    v = _str(table, key, where, default)
    assert v is not None
    if v not in choices:
        near = difflib.get_close_matches(v, choices, n=1, cutoff=0.5)
        lowered = {c.lower(): c for c in choices}
        if v.lower() in lowered:
            near = [lowered[v.lower()]]
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ConfigError(f"{_join(where, key)}: {v!r} is not one of {', '.join(choices)}{hint}")
    return v


# --- the sections ------------------------------------------------------------

_TOP = ("models", "portfolio", "payout", "data", "solver", "slots")
_PORTFOLIO = ("leverage", "lookback", "risk_measure", "linkage", "codependence", "leaf_order", "alpha",
              "side", "min_rounds", "max_stale", "missing", "min_weight", "max_correlation")
_PAYOUT = ("regime", "scores", "combinations", "payout_factor", "clip", "multiplier_step")
_DATA = ("source", "snapshot", "cache_dir", "tournament", "columns")
_SOLVER = ("name", "time_limit", "change_penalty", "objective")
_SLOT = ("name", "stake", "current", "current_multipliers", "pin", "exclude")


def _models(doc: dict) -> tuple[str, ...]:
    if "models" not in doc:
        raise ConfigError("models: required: the list of source models whose scores become instruments")
    raw = doc["models"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError("models: must be a non-empty list of model names")
    out: list[str] = []
    for i, m in enumerate(raw):
        if not isinstance(m, str) or not m.strip():
            raise ConfigError(f"models[{i}]: must be a model name, got {m!r}")
        name = m.strip().lower()
        if name.startswith(SHORT):
            raise ConfigError(f"models[{i}]: {m!r}: a source model may not be named short_… (that prefix marks the short side)")
        if name in out:
            raise ConfigError(f"models[{i}]: {m!r} is listed twice")
        out.append(name)
    return tuple(out)


def _payout(doc: dict) -> Payout:
    t = _table(doc, "payout")
    _check_keys(t, _PAYOUT, "payout")
    name = _str(t, "regime", "payout", "classic-2024")
    assert name is not None
    live = False
    if name == "custom":
        regime = custom_regime(t.get("scores"), t.get("combinations"))
    else:
        for k in ("scores", "combinations"):
            if k in t:
                raise ConfigError(f"payout.{k}: only allowed with regime = \"custom\" (regime is {name!r})")
        if name == "live":
            live = True
            # Placeholder until the API states the open round's rules (sync resolves it; nothing reads it before).
            regime = PRESETS["classic-2024"]
        else:
            regime = preset(name)
    factor = _num(t, "payout_factor", "payout", 1.0, lo=0.0, lo_open=True)
    clip = _num(t, "clip", "payout", 0.05, lo=0.0, lo_open=True)
    step = _num(t, "multiplier_step", "payout", 0.5, lo=0.0, lo_open=True, hi=100.0)
    if "multiplier_step" in t and not live:
        raise ConfigError(f"payout.multiplier_step: only used with regime = \"live\" (regime is {name!r})")
    return Payout(regime=regime, live=live, payout_factor=factor, clip=clip, multiplier_step=step)  # type: ignore[arg-type]


def _portfolio(doc: dict, regime: Regime) -> Portfolio:
    t = _table(doc, "portfolio")
    _check_keys(t, _PORTFOLIO, "portfolio")
    given = "leverage" in t
    leverage = _num(t, "leverage", "portfolio", None, lo=0.0, lo_open=True, hi=100.0)
    fixed = regime.fixed_leverage
    if fixed is not None:
        if leverage is not None and abs(leverage - fixed) > 1e-9:
            raise ConfigError(
                f"portfolio.leverage: {leverage:g} is not possible in regime {regime.name!r}: every slot pays "
                f"{' + '.join(f'{p:g}×{k}' for k, p in zip(regime.scores, regime.combinations[0]))}, so leverage is "
                f"fixed at {fixed:g}; remove the key or set it to {fixed:g}"
            )
        leverage = fixed
    elif leverage is None:
        leverage = DEFAULT_LEVERAGE
    rm_text = _str(t, "risk_measure", "portfolio", RiskMeasure.CVaR.value)
    assert rm_text is not None
    rm = parse_risk_measure(rm_text, key="portfolio.risk_measure")
    if "leaf_order" in t and not isinstance(t["leaf_order"], bool):
        raise ConfigError(f"portfolio.leaf_order: must be true or false, got {t['leaf_order']!r}")
    return Portfolio(
        leverage=float(leverage),
        leverage_given=given,
        lookback=_int(t, "lookback", "portfolio", 100, lo=2),
        risk_measure=rm,
        linkage=_choice(t, "linkage", "portfolio", "single", LINKAGES),
        codependence=_choice(t, "codependence", "portfolio", "pearson", CODEPENDENCES),
        leaf_order=bool(t.get("leaf_order", True)),
        alpha=_num(t, "alpha", "portfolio", 0.05, lo=0.0, lo_open=True, hi=0.5),  # type: ignore[arg-type]
        side=SidePolicy(_choice(t, "side", "portfolio", "mean", tuple(s.value for s in SidePolicy))),
        min_rounds=_int(t, "min_rounds", "portfolio", 60, lo=2),
        max_stale=_int(t, "max_stale", "portfolio", 5, lo=1),
        missing=Missing(_choice(t, "missing", "portfolio", "drop-rounds", tuple(m.value for m in Missing))),
        min_weight=_num(t, "min_weight", "portfolio", 0.0, lo=0.0, hi=0.5),  # type: ignore[arg-type]
        max_correlation=_num(t, "max_correlation", "portfolio", 0.999, lo=0.0, lo_open=True, hi=1.0),  # type: ignore[arg-type]
    )


def parse_risk_measure(text: str, *, key: str) -> RiskMeasure:
    codes = tuple(r.value for r in RiskMeasure)
    if text in codes:
        return RiskMeasure(text)
    lowered = {c.lower(): c for c in codes}
    near = [lowered[text.lower()]] if text.lower() in lowered else difflib.get_close_matches(text, codes, n=1, cutoff=0.5)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    raise ConfigError(f"{key}: unknown risk measure {text!r}{hint}; riskfolio codes for HRP: {', '.join(codes)}")


def _data(doc: dict, base: Path) -> Data:
    t = _table(doc, "data")
    _check_keys(t, _DATA, "data")
    source = Source(_choice(t, "source", "data", "snapshot", tuple(s.value for s in Source)))
    snap = _str(t, "snapshot", "data", "bundled")
    assert snap is not None
    if snap != "bundled":
        p = (base / snap).resolve() if not Path(snap).is_absolute() else Path(snap)
        if source is Source.SNAPSHOT and not p.is_file():
            raise ConfigError(f"data.snapshot: no such file {str(p)!r} (relative paths are relative to the fleet file)")
        snap = str(p)
    cache = _str(t, "cache_dir", "data", None)
    cache_dir = None
    if cache is not None:
        if not cache.strip():
            raise ConfigError("data.cache_dir: must not be empty")
        cache_dir = (base / cache).resolve() if not Path(cache).is_absolute() else Path(cache)
    tournament = Tournament(_choice(t, "tournament", "data", "classic", tuple(x.value for x in Tournament)))
    columns: list[tuple[str, str]] = []
    if "columns" in t:
        raw = t["columns"]
        if not isinstance(raw, dict):
            raise ConfigError('data.columns: must be a table of regime score = data column, e.g. { v2_corr20 = "canon_corr" }')
        for k, v in raw.items():
            check_score_name(k, f"data.columns.{k}")
            check_score_name(v, f"data.columns.{k}")
            if v in [c for _, c in columns]:
                raise ConfigError(f"data.columns.{k}: column {v!r} already stands for another score")
            columns.append((k, v))
    return Data(source=source, snapshot=snap, cache_dir=cache_dir, tournament=tournament, columns=tuple(columns))


def _solver(doc: dict) -> Solver:
    t = _table(doc, "solver")
    _check_keys(t, _SOLVER, "solver")
    name = _choice(t, "name", "solver", SolverName.HIGHS.value, tuple(s.value for s in SolverName))
    return Solver(
        name=SolverName(name),
        time_limit=_num(t, "time_limit", "solver", 60.0, lo=0.0, lo_open=True, hi=86400.0),  # type: ignore[arg-type]
        change_penalty=_num(t, "change_penalty", "solver", 0.0, lo=0.0, hi=NMR_SUPPLY),  # type: ignore[arg-type]
        objective=Objective(_choice(t, "objective", "solver", DEFAULT_OBJECTIVE.value,
                                    tuple(o.value for o in Objective))),
        objective_given="objective" in t,
    )


def _ref(value: object, where: str, models: tuple[str, ...]) -> Ref:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: must be a model name (\"model\" or \"short_model\"), got {value!r}")
    ref = Ref.parse(value)
    if ref.model not in models:
        near = difflib.get_close_matches(ref.model, models, n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ConfigError(f"{where}: unknown model {value!r}: not in models{hint}")
    return ref


def _slots(doc: dict, models: tuple[str, ...], regime: Regime, source: Source, live: bool) -> tuple[tuple[Slot, ...], tuple]:
    raw = doc.get("slots")
    if raw is None:
        raise ConfigError("slots: required: at least one [[slots]] table")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("slots: the slot list is empty; add at least one [[slots]] table")
    out: list[Slot] = []
    raw_mults = []
    names: set[str] = set()
    for i, t in enumerate(raw):
        where = f"slots[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{where}: must be a table ([[slots]])")
        _check_keys(t, _SLOT, where)
        name = _str(t, "name", where, None)
        if name is None or not name.strip():
            raise ConfigError(f"{where}.name: required: the slot's model name on Numerai")
        name = name.strip().lower()
        where = f"slots[{i}] ({name})"
        if name in names:
            raise ConfigError(f"{where}.name: slot {name!r} is listed twice")
        names.add(name)
        stake = _num(t, "stake", where, None, lo=0.0, lo_open=True, hi=NMR_SUPPLY)
        if stake is None and source is Source.SNAPSHOT:
            raise ConfigError(f"{where}.stake: required with data.source = \"snapshot\" (stakes come from the API only with source = \"numerai\")")
        current = _ref(t["current"], f"{where}.current", models) if "current" in t else None
        mults: tuple[float, ...] | None = None
        if "current_multipliers" in t:
            cm = t["current_multipliers"]
            if not isinstance(cm, dict) or not cm:
                raise ConfigError(f"{where}.current_multipliers: must be a table such as {{ v2_corr20 = 0.5, mmc = 2.0 }}")
            if current is None:
                raise ConfigError(f"{where}.current_multipliers: given without current")
            for k, v in cm.items():
                if not live and k not in regime.scores:
                    raise ConfigError(f"{where}.current_multipliers.{k}: not a score of regime {regime.name!r} ({', '.join(regime.scores)})")
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ConfigError(f"{where}.current_multipliers.{k}: must be a number, got {v!r}")
            raw_mults.append((name, {k: float(v) for k, v in cm.items()}))
            if not live:
                idx = regime.index_of(cm)
                if idx is None:
                    raise ConfigError(
                        f"{where}.current_multipliers: {dict(cm)} is not an allowed combination of regime {regime.name!r}")
                mults = regime.combinations[idx]
        elif current is not None and regime.single and not live:
            mults = regime.combinations[0]
        pin = _ref(t["pin"], f"{where}.pin", models) if "pin" in t else None
        exclude: tuple[str, ...] = ()
        if "exclude" in t:
            ex = t["exclude"]
            if not isinstance(ex, list):
                raise ConfigError(f"{where}.exclude: must be a list of model names")
            refs = [_ref(e, f"{where}.exclude", models) for e in ex]
            for e, r in zip(ex, refs):
                if r.side == "short":
                    raise ConfigError(f"{where}.exclude: {e!r}: exclude names source models (both sides are excluded)")
            exclude = tuple(dict.fromkeys(r.model for r in refs))
            if len(exclude) == len(models):
                raise ConfigError(f"{where}.exclude: excludes every source model; the slot could submit nothing")
            if pin is not None and pin.model in exclude:
                raise ConfigError(f"{where}.pin: {pin.label!r} is also in exclude")
        out.append(Slot(name=name, stake=stake, current=current, current_multipliers=mults, pin=pin, exclude=exclude))
    return tuple(out), tuple(raw_mults)


def check_totals(slots: tuple[Slot, ...], solver: Solver) -> None:
    """Ranges that need every stake: the fleet's total within NMR's supply, the change penalty within it."""
    stakes = [s.stake for s in slots]
    if any(x is None for x in stakes):
        return  # stakes from the API: checked when they are known (sync)
    total = float(sum(stakes))  # type: ignore[arg-type]
    if total > NMR_SUPPLY:
        raise ConfigError(f"slots: the stakes add up to {total:,.0f} NMR, more than NMR's total supply "
                          f"({NMR_SUPPLY:,.0f})")
    if solver.change_penalty > total:
        raise ConfigError(f"solver.change_penalty: {solver.change_penalty:g} is more than the total stake "
                          f"({total:g} NMR)")


def _check_columns(data: Data, regime: Regime) -> None:
    for k, _c in data.columns:
        if k not in regime.scores:
            raise ConfigError(f"data.columns.{k}: {k!r} is not a payout score of regime {regime.name!r} "
                              f"({', '.join(regime.scores)})")


def parse_fleet(doc: dict[str, Any], *, base: Path, path: Path | None = None, sha256: str = "") -> Fleet:
    """Validate a parsed fleet document. `base` resolves relative paths."""
    _check_keys(doc, _TOP, "")
    models = _models(doc)
    payout = _payout(doc)
    portfolio = _portfolio(doc, payout.regime)
    data = _data(doc, base)
    if payout.live and data.source is not Source.NUMERAI:
        raise ConfigError('payout.regime: "live" reads the slots\' multipliers from the API; it needs data.source = "numerai"')
    if not payout.live:  # a live regime's scores are known once the API has stated them (with_regime)
        _check_columns(data, payout.regime)
    solver = _solver(doc)
    slots, raw_mults = _slots(doc, models, payout.regime, data.source, payout.live)
    check_totals(slots, solver)
    return Fleet(models=models, portfolio=portfolio, payout=payout, data=data, solver=solver, slots=slots,
                 path=path, sha256=sha256, raw_multipliers=raw_mults)


def load_fleet(path: str | Path) -> Fleet:
    """Read and validate a fleet file."""
    p = Path(path)
    try:
        blob = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such fleet file") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    try:
        doc = tomllib.loads(blob.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    return parse_fleet(doc, base=p.resolve().parent, path=p.resolve(), sha256=hashlib.sha256(blob).hexdigest())


def with_regime(fleet: Fleet, regime: Regime) -> Fleet:
    """Fleet with a regime learnt at run time (regime = "live"): re-checks leverage and current multipliers."""
    fixed = regime.fixed_leverage
    lev = fleet.portfolio.leverage
    if fixed is not None:
        if fleet.portfolio.leverage_given and abs(lev - fixed) > 1e-9:
            raise ConfigError(f"portfolio.leverage: {lev:g} is not possible in the live regime of round {regime.round} "
                              f"({regime.describe()}): leverage is fixed at {fixed:g}; remove the key")
        lev = fixed
    elif not fleet.portfolio.leverage_given:
        lev = DEFAULT_LEVERAGE  # the placeholder regime's fixed leverage does not carry over
    _check_columns(fleet.data, regime)
    raw = dict(fleet.raw_multipliers)
    slots = []
    for s in fleet.slots:
        mults = None  # nothing carries over from the placeholder regime
        if s.name in raw:
            unknown = [k for k in raw[s.name] if k not in regime.scores]
            if unknown:
                raise ConfigError(f"slots ({s.name}).current_multipliers.{unknown[0]}: not a payout score of the live "
                                  f"regime of round {regime.round} ({', '.join(regime.scores)})")
            idx = regime.index_of(raw[s.name])
            if idx is None:
                raise ConfigError(f"slots ({s.name}).current_multipliers: {raw[s.name]} is not allowed in the live "
                                  f"regime of round {regime.round} ({regime.describe()})")
            mults = regime.combinations[idx]
        elif s.current is not None and regime.single:
            mults = regime.combinations[0]
        slots.append(replace(s, current_multipliers=mults))
    return replace(fleet, payout=replace(fleet.payout, regime=regime),
                   portfolio=replace(fleet.portfolio, leverage=lev), slots=tuple(slots))
