"""Reading the fleet file into a FleetSpec: the generic reader (`keys.read_section`) takes every key its
declaration describes; this module reads the special ones (models, paths, the regime, data.columns, the
staking system's dependencies, the slot list) and checks what spans keys."""

from __future__ import annotations

import difflib
import hashlib
import stat
import tomllib
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..regimes import Regime, check_score_name, custom_regime, preset
from ..types import SHORT, Ref, Side, StakingSystem
from .keys import Text, check_keys, declared, read_section
from .model import (
    DEFAULT_MULTIPLIER_STEP,
    SECTIONS,
    TOP_KEYS,
    Data,
    FleetSpec,
    PayoutSpec,
    Portfolio,
    Slot,
    SlotSpec,
    Solver,
    Source,
    Staking,
    Tournament,
    check_riskfolio,
    check_window,
    parse_risk_measure,
)
from .resolve import check_rules, check_totals

MAX_FLEET_BYTES = 10_000_000  # a fleet file is text: 10 MB is far beyond any real one


def parse(path: str | Path) -> FleetSpec:
    """Read a fleet file (a regular file of at most MAX_FLEET_BYTES) and check it key by key."""
    p = Path(path)
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block, /dev/zero would never end
            raise ConfigError(f"{p}: not a regular file; a fleet file is a TOML file")
        with open(p, "rb") as f:
            blob = f.read(MAX_FLEET_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such fleet file") from None
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    if len(blob) > MAX_FLEET_BYTES:
        raise ConfigError(f"{p}: larger than {MAX_FLEET_BYTES // 1_000_000} MB; not a fleet file")
    try:
        doc = tomllib.loads(blob.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{p}: nested too deeply to be a fleet file") from None
    return parse_fleet(doc, base=p.resolve().parent, path=p.resolve(), sha256=hashlib.sha256(blob).hexdigest())


def parse_fleet(doc: dict[str, Any], *, base: Path, path: Path | None = None, sha256: str = "") -> FleetSpec:
    """Check a parsed fleet document key by key. `base` resolves relative paths."""
    check_keys(doc, tuple(TOP_KEYS), "")
    models = _models(doc)
    payout = _payout(doc)
    portfolio = _portfolio(doc)
    data = _data(doc, base)
    if payout.live and data.source is not Source.NUMERAI:
        raise ConfigError('payout.regime: "live" reads the slots\' multipliers from the API; it needs '
                          'data.source = "numerai"')
    solver = _solver(doc)
    staking = _staking(doc, payout, data.tournament)
    slots = _slots(doc, models, data.source, staking)
    spec = FleetSpec(models=models, portfolio=portfolio, payout=payout, data=data, solver=solver, slots=slots,
                     path=path, sha256=sha256, staking=staking)
    if payout.regime is not None:  # rules in the file: check against them now, before anything is fetched
        check_rules(spec, payout.regime, False)
    if staking.per_round_system:
        check_totals(tuple(Slot(s.name, 0.0, max_stake=s.max_stake) for s in slots), solver, staking)
    elif not any(s.stake is None for s in slots):
        check_totals(tuple(Slot(s.name, s.stake) for s in slots), solver)  # type: ignore[arg-type]
    return spec


# --- the sections ----------------------------------------------------------------------------------------


def _table(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: must be a table ([{name}])")
    return value


def _text(table: dict, name: str, where: str, default: str | None) -> str | None:
    return Text().read(table[name], f"{where}.{name}") if name in table else default


def _outside(table: dict, cls: type, system: StakingSystem) -> list[str]:
    """The keys of `table` that `cls` declares for the other staking system only, in declaration order."""
    return [k for k, d in declared(cls).items() if k in table and d.only is not None and d.only is not system]


def _models(doc: dict) -> tuple[str, ...]:
    if "models" not in doc:
        raise ConfigError("models: required: the list of source models whose scores become instruments")
    raw = doc["models"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError("models: must be a non-empty list of model names")
    out: list[str] = []
    seen: set[str] = set()  # a set: the check stays linear (100,000 models took 53 s as a list)
    for i, m in enumerate(raw):
        if not isinstance(m, str) or not m.strip():
            raise ConfigError(f"models[{i}]: must be a model name, got {m!r}")
        name = m.strip().lower()
        if name.startswith(SHORT):
            raise ConfigError(f"models[{i}]: {m!r}: a source model may not be named short_… (that prefix marks "
                              "the short side)")
        if name in seen:
            raise ConfigError(f"models[{i}]: {m!r} is listed twice")
        seen.add(name)
        out.append(name)
    return tuple(out)


def _payout(doc: dict) -> PayoutSpec:
    t = _table(doc, "payout")
    v = read_section(t, PayoutSpec, "payout")
    name = _text(t, "regime", "payout", declared(PayoutSpec)["regime"].default)
    assert name is not None
    regime: Regime | None
    if name == "custom":
        regime = custom_regime(t.get("scores"), t.get("combinations"))
    else:
        for k in PayoutSpec.EXTRA_KEYS:
            if k in t:
                raise ConfigError(f"payout.{k}: only allowed with regime = \"custom\" (regime is {name!r})")
        regime = None if name == "live" else preset(name)
    if v["multiplier_step"] is not None and regime is not None:
        raise ConfigError(f"payout.multiplier_step: only used with regime = \"live\" (regime is {name!r})")
    if v["multiplier_step"] is None and regime is None:
        v["multiplier_step"] = DEFAULT_MULTIPLIER_STEP
    return PayoutSpec(regime=regime, **v)


def _portfolio(doc: dict) -> Portfolio:
    t = _table(doc, "portfolio")
    v = read_section(t, Portfolio, "portfolio")
    rm_text = _text(t, "risk_measure", "portfolio", None)
    rm = declared(Portfolio)["risk_measure"].default if rm_text is None else parse_risk_measure(
        rm_text, key="portfolio.risk_measure")
    check_riskfolio(v["codependence"])
    check_window(v["lookback"], v["min_rounds"])
    return Portfolio(risk_measure=rm, **v)


def _solver(doc: dict) -> Solver:
    return Solver(**read_section(_table(doc, "solver"), Solver, "solver"))


def _on_step(v: float, step: float) -> bool:
    return abs(v / step - round(v / step)) < 1e-6


def _staking(doc: dict, payout: PayoutSpec, tournament: Tournament) -> Staking:
    """`[staking]`: the system (default per-round for `live` and the presets that declare it, else fixed) and,
    under per-round, the budget and the stake grid."""
    t = _table(doc, "staking")
    check_keys(t, tuple(declared(Staking)), "staking")
    default = (StakingSystem.PER_ROUND if payout.live or (payout.regime is not None
                                                         and payout.regime.staking == "per-round")
               else StakingSystem.FIXED)
    system = declared(Staking)["system"].kind.read(t["system"], "staking.system") if "system" in t else default
    if system is StakingSystem.FIXED:
        for k in _outside(t, Staking, system):
            raise ConfigError(f'staking.{k}: only used with system = "per-round" (system is "fixed": each '
                              "slot's stake is given)")
        return Staking(system=system, open_rounds=tournament.open_rounds)
    v = read_section(t, Staking, "staking")
    v["system"] = system
    if (v["nmr"] is None) == (v["per_round"] is None):
        raise ConfigError('staking.nmr: system = "per-round" needs the NMR committed to the allocation strategy '
                          "(nmr), or the NMR staked per round over all slots (per_round): exactly one of them")
    step = v["stake_step"]
    if step < 1e-6:
        raise ConfigError(f"staking.stake_step: {step:g} NMR is below 1e-6 NMR")
    if not _on_step(v["min_stake"], step):
        raise ConfigError(f"staking.min_stake: {v['min_stake']:g} is not a whole multiple of stake_step = {step:g}")
    if v["per_round"] is not None and not _on_step(v["per_round"], step):
        raise ConfigError(f"staking.per_round: {v['per_round']:g} is not a whole multiple of stake_step = {step:g}")
    if v["open_rounds"] is None:
        v["open_rounds"] = tournament.open_rounds
    return Staking(**v)


def _slots(doc: dict, models: tuple[str, ...], source: Source, staking: Staking) -> tuple[SlotSpec, ...]:
    raw = doc.get("slots")
    if raw is None:
        raise ConfigError("slots: required: at least one [[slots]] table")
    if not isinstance(raw, list) or not raw:
        raise ConfigError("slots: the slot list is empty; add at least one [[slots]] table")
    out: list[SlotSpec] = []
    names: set[str] = set()
    for i, t in enumerate(raw):
        where = f"slots[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{where}: must be a table ([[slots]])")
        check_keys(t, tuple(declared(SlotSpec)), where)
        name = _text(t, "name", where, None)
        if name is None or not name.strip():
            raise ConfigError(f"{where}.name: required: the slot's model name on Numerai")
        name = name.strip().lower()
        where = f"slots[{i}] ({name})"
        if name in names:
            raise ConfigError(f"{where}.name: slot {name!r} is listed twice")
        names.add(name)
        per_round = staking.per_round_system
        for k in _outside(t, SlotSpec, staking.system):
            if per_round:  # only `stake`
                raise ConfigError(f'{where}.{k}: under system = "per-round" the plan sets each slot\'s per-round '
                                  "stake; write today's as current_stake")
            raise ConfigError(f'{where}.{k}: only used with [staking] system = "per-round"')
        v = read_section(t, SlotSpec, where)
        max_stake = v["max_stake"]
        if max_stake is not None and not _on_step(max_stake, staking.stake_step):
            raise ConfigError(f"{where}.max_stake: {max_stake:g} is not a whole multiple of staking.stake_step = "
                              f"{staking.stake_step:g}")
        if max_stake is not None and max_stake < staking.min_stake:
            raise ConfigError(f"{where}.max_stake: {max_stake:g} is below staking.min_stake = {staking.min_stake:g}")
        if v["stake"] is None and source is Source.SNAPSHOT and not per_round:
            raise ConfigError(f"{where}.stake: required with data.source = \"snapshot\" (stakes come from the API "
                              "only with source = \"numerai\")")
        current = _ref(t["current"], f"{where}.current", models) if "current" in t else None
        pin = _ref(t["pin"], f"{where}.pin", models) if "pin" in t else None
        out.append(SlotSpec(index=i, name=name, current=current,
                            current_multipliers=_current_multipliers(t, where, current), pin=pin,
                            exclude=_exclude(t, where, models, pin), **v))
    return tuple(out)


def _current_multipliers(t: dict, where: str, current: Ref | None) -> tuple[tuple[str, float], ...] | None:
    if "current_multipliers" not in t:
        return None
    cm = t["current_multipliers"]
    if not isinstance(cm, dict) or not cm:
        raise ConfigError(f"{where}.current_multipliers: must be a table such as {{ v2_corr20 = 0.5, mmc = 2.0 }}")
    if current is None:
        raise ConfigError(f"{where}.current_multipliers: given without current")
    for k, x in cm.items():
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise ConfigError(f"{where}.current_multipliers.{k}: must be a number, got {x!r}")
    return tuple((k, float(x)) for k, x in cm.items())


def _exclude(t: dict, where: str, models: tuple[str, ...], pin: Ref | None) -> tuple[str, ...]:
    if "exclude" not in t:
        return ()
    ex = t["exclude"]
    if not isinstance(ex, list):
        raise ConfigError(f"{where}.exclude: must be a list of model names")
    refs = [_ref(e, f"{where}.exclude", models) for e in ex]
    for e, r in zip(ex, refs):
        if r.side is Side.SHORT:
            raise ConfigError(f"{where}.exclude: {e!r}: exclude names source models (both sides are excluded)")
    exclude = tuple(dict.fromkeys(r.model for r in refs))
    if len(exclude) == len(models):
        raise ConfigError(f"{where}.exclude: excludes every source model; the slot could submit nothing")
    if pin is not None and pin.model in exclude:
        raise ConfigError(f"{where}.pin: {pin.label!r} is also in exclude")
    return exclude


def _data(doc: dict, base: Path) -> Data:
    t = _table(doc, "data")
    v = read_section(t, Data, "data")
    source, tournament = v["source"], v["tournament"]
    snap = _text(t, "snapshot", "data", declared(Data)["snapshot"].default)
    assert snap is not None
    if snap != "bundled":
        p = Path(snap).expanduser()
        p = (base / p).resolve() if not p.is_absolute() else p
        if source is Source.SNAPSHOT and not p.is_file():
            raise ConfigError(f"data.snapshot: no such file {str(p)!r} (relative paths are relative to the fleet file)")
        snap = str(p)
    cache = _text(t, "cache_dir", "data", None)
    cache_dir = None
    if cache is not None:
        if not cache.strip():
            raise ConfigError("data.cache_dir: must not be empty")
        c = Path(cache).expanduser()  # "~/x" is the home directory's x, not a directory named "~"
        cache_dir = (base / c).resolve() if not c.is_absolute() else c
    if source is Source.SNAPSHOT and snap == "bundled" and tournament is not Tournament.CLASSIC:
        raise ConfigError(f"data.tournament: {tournament.value!r}, but the bundled snapshot holds Numerai Classic "
                          "scores; give a snapshot of that tournament's scores or data.source = \"numerai\"")
    return Data(snapshot=snap, cache_dir=cache_dir, columns=_columns(t), **v)


def _columns(t: dict) -> tuple[tuple[str, str], ...]:
    if "columns" not in t:
        return ()
    raw = t["columns"]
    if not isinstance(raw, dict):
        raise ConfigError('data.columns: must be a table of regime score = data column, '
                          'e.g. { v2_corr20 = "canon_corr" }')
    columns: list[tuple[str, str]] = []
    for k, c in raw.items():
        check_score_name(k, f"data.columns.{k}")
        check_score_name(c, f"data.columns.{k}")
        if c in [x for _, x in columns]:
            raise ConfigError(f"data.columns.{k}: column {c!r} already stands for another score")
        columns.append((k, c))
    return tuple(columns)


def _ref(value: object, where: str, models: tuple[str, ...]) -> Ref:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: must be a model name (\"model\" or \"short_model\"), got {value!r}")
    ref = Ref.parse(value)
    if ref.model not in models:
        near = difflib.get_close_matches(ref.model, models, n=1, cutoff=0.6)
        # the close name may be the typo (in models, not here): say where it stands rather than suggest it
        hint = (f"; models lists {near[0]!r}, which is close: is one of the two misspelt?" if near else "")
        raise ConfigError(f"{where}: unknown model {value!r}: not in models{hint}")
    return ref


def declared_keys() -> dict[str, tuple[str, ...]]:
    """Every key the parser takes, by section ("" is the top level), in declaration order."""
    return {"": tuple(TOP_KEYS), **{name: tuple(declared(cls)) for name, cls in SECTIONS.items()}}
