"""Property-based tests (hypothesis) with a fixed CI profile: derandomized, bounded examples.

The fleet parser and the API response parser never raise anything but a StakeallocError on any input; the
slot program equals brute force on random small instances; HRP gives valid weights or a StakeallocError
on random windows, degenerate ones included."""

import itertools
import json
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stakealloc.errors import StakeallocError

settings.register_profile("ci", derandomize=True, max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")

# --- the fleet parser ------------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
KEYS = ["models", "portfolio", "payout", "data", "solver", "slots", "leverage", "lookback", "risk_measure", "regime",
        "scores", "combinations", "stake", "name", "current", "columns", "tournament", "objective", "time_limit",
        "change_penalty", "current_multipliers", "pin", "exclude", "multiplier_step", "clip", "v2_corr20"]
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)),
                      max_leaves=20)


@pytest.mark.slow
@given(doc=st.dictionaries(st.sampled_from(KEYS), values, max_size=7))
def test_fleet_parser_never_raises_anything_else(doc, tmp_path_factory):
    from stakealloc.config import parse_fleet, resolve

    base = tmp_path_factory.mktemp("p")
    try:
        spec = parse_fleet(doc, base=base)
        if not spec.needs_api:
            resolve(spec)
    except StakeallocError:
        pass


@given(text=st.text(alphabet=string.printable, max_size=300))
def test_fleet_text_never_raises_anything_else(text, tmp_path_factory):
    from stakealloc.api import load_fleet

    p = tmp_path_factory.mktemp("t") / "f.toml"
    p.write_text(text)
    try:
        load_fleet(p)
    except StakeallocError:
        pass


# The positive oracle: valid fleets, generated, parse to exactly what they say (a parser that refused every
# input would fail here), as a document and as TOML text; one wrong-typed key is refused naming that key.
_names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda n: not n.startswith("short_"))


@st.composite
def valid_fleets(draw):
    from stakealloc.config import LINKAGES
    from stakealloc.regimes import PRESETS
    from stakealloc.types import Objective, RiskMeasure

    models = draw(st.lists(_names, min_size=1, max_size=5, unique=True))
    slots = []
    for name in draw(st.lists(_names, min_size=1, max_size=4, unique=True)):
        slot = {"name": name, "stake": draw(st.floats(0.01, 1e5))}
        if draw(st.booleans()):
            slot["current"] = draw(st.sampled_from(models + [f"short_{m}" for m in models]))
        slots.append(slot)
    doc = {"models": models, "slots": slots}
    # a window of at least min_rounds (60 by default, at most 60 here): smaller ones are refused
    pf = {k: draw(v) for k, v in {"lookback": st.integers(60, 500),
                                  "risk_measure": st.sampled_from([r.value for r in RiskMeasure]),
                                  "linkage": st.sampled_from(LINKAGES), "alpha": st.floats(0.01, 0.5),
                                  "min_rounds": st.integers(2, 60)}.items() if draw(st.booleans())}
    if pf:
        doc["portfolio"] = pf
    # fixed-stake presets (per-round fleets state no slot stake: tests/test_config.py)
    doc["payout"] = {"regime": draw(st.sampled_from(sorted(n for n, r in PRESETS.items() if r.staking != "per-round")))}
    # a change penalty within the smallest possible total stake (0.01 NMR): larger ones are refused
    sv = {k: draw(v) for k, v in {"time_limit": st.floats(0.1, 1000), "change_penalty": st.floats(0, 0.01),
                                  "objective": st.sampled_from([o.value for o in Objective])}.items()
          if draw(st.booleans())}
    if sv:
        doc["solver"] = sv
    return doc


def _toml(doc: dict) -> str:
    """A minimal TOML writer for the generated fleets (strings, numbers, lists, tables, arrays of tables)."""
    def val(v):
        if isinstance(v, str):
            return '"' + v + '"'
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return repr(v)

    lines = [f"models = {val(doc['models'])}"]
    for sec in ("portfolio", "payout", "solver"):
        if sec in doc:
            lines += [f"[{sec}]"] + [f"{k} = {val(v)}" for k, v in doc[sec].items()]
    for slot in doc["slots"]:
        lines += ["[[slots]]"] + [f"{k} = {val(v)}" for k, v in slot.items()]
    return "\n".join(lines) + "\n"


def _check_parsed(fleet, doc) -> None:
    from stakealloc.config import Portfolio

    assert fleet.models == tuple(doc["models"])
    assert [(s.name, s.stake, s.current.label if s.current else None) for s in fleet.slots] == [
        (d["name"], d["stake"], d.get("current")) for d in doc["slots"]]
    pf = doc.get("portfolio", {})
    assert fleet.portfolio.lookback == pf.get("lookback", Portfolio().lookback)
    assert fleet.portfolio.risk_measure.value == pf.get("risk_measure", Portfolio().risk_measure.value)
    assert fleet.payout.regime.name == doc["payout"]["regime"]
    sv = doc.get("solver", {})
    if "objective" in sv:
        assert fleet.solver.objective.value == sv["objective"]
    if "time_limit" in sv:
        assert fleet.solver.time_limit == sv["time_limit"]


@given(doc=valid_fleets())
def test_valid_fleet_documents_parse_to_what_they_say(doc, tmp_path_factory):
    from stakealloc.config import parse_fleet, resolve

    _check_parsed(resolve(parse_fleet(doc, base=tmp_path_factory.mktemp("v"))), doc)


@given(doc=valid_fleets())
def test_valid_fleet_files_parse_to_what_they_say(doc, tmp_path_factory):
    from stakealloc.api import load_fleet

    p = tmp_path_factory.mktemp("vt") / "f.toml"
    p.write_text(_toml(doc))
    _check_parsed(load_fleet(p), doc)


_TYPED = [("portfolio", "lookback"), ("portfolio", "alpha"), ("portfolio", "risk_measure"), ("solver", "time_limit"),
          ("solver", "objective"), ("payout", "regime")]


@given(doc=valid_fleets(), where=st.sampled_from(_TYPED + [("slots", "stake"), ("slots", "name")]),
       bad=st.sampled_from([[1], {"x": 1}, True]))
def test_one_wrong_type_is_refused_naming_its_key(doc, where, bad, tmp_path_factory):
    from stakealloc.config import parse_fleet
    from stakealloc.errors import ConfigError

    sec, key = where
    if sec == "slots":
        doc["slots"][0][key] = bad
        named = f"slots[0]{'' if key == 'name' else ' (' + doc['slots'][0]['name'] + ')'}.{key}"
    else:
        doc.setdefault(sec, {})[key] = bad
        named = f"{sec}.{key}"
    with pytest.raises(ConfigError) as e:
        parse_fleet(doc, base=tmp_path_factory.mktemp("w"))
    assert str(e.value).startswith(named), (str(e.value), named)


# --- the API response parser ---------------------------------------------------------------------------

json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                                     st.floats(allow_nan=False), st.text(max_size=8)),
                           lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                   st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                           max_leaves=25)
score_item = st.fixed_dictionaries({}, optional={
    "roundNumber": json_values, "displayName": json_values, "value": json_values, "day": json_values,
    "resolved": json_values, "version": json_values})


@given(st.lists(st.one_of(score_item, json_values), max_size=6))
def test_score_parser_never_raises_anything_else(items):
    from stakealloc.numerai import parse_submission_scores

    try:
        rows = parse_submission_scores(items, "m")
    except StakeallocError:
        return
    for r in rows:  # what it accepts is typed and in range
        assert isinstance(r.round, int) and 1 <= r.round <= 100_000 and np.isfinite(r.value)
        assert isinstance(r.resolved, bool) and isinstance(r.score, str)


config_item = st.fixed_dictionaries({}, optional={
    k: json_values for k in ("displayName", "name", "version", "totalScoreDays", "returnsLagDays", "dataDelayDays",
                             "isPayout", "minMultiplier", "maxMultiplier", "defaultMultiplier", "clipThreshold",
                             "payoutFactor")})


@pytest.mark.slow
@given(st.lists(st.one_of(st.fixed_dictionaries({"number": json_values, "roundScoreConfigs": json_values}),
                          st.fixed_dictionaries({"number": st.integers(1, 2000),
                                                 "roundScoreConfigs": st.lists(config_item, max_size=4)}),
                          json_values), max_size=4))
def test_round_config_parser_never_raises_anything_else(rounds):
    from stakealloc.numerai import parse_rounds
    from stakealloc.regimes import regime_from_configs

    try:
        for n, configs in parse_rounds(rounds, "rules"):
            regime_from_configs(configs, n, step=0.5)
    except StakeallocError:
        pass


# --- the slot program against brute force ------------------------------------------------------------


@given(st.lists(st.floats(10, 2000), min_size=1, max_size=4), st.lists(st.floats(0, 3000), min_size=4, max_size=4),
       st.sampled_from(["classic-2024", "classic-2023-r589"]))
@settings(max_examples=25)
def test_slot_program_equals_brute_force(stakes, tvals, regime_name):
    from stakealloc.config import Ref
    from stakealloc.regimes import PRESETS
    from stakealloc.slots import SlotInput, SlotProblem, solve
    from stakealloc.targets import Target

    regime = PRESETS[regime_name]
    slots = [SlotInput(f"s{j}", round(s, 2)) for j, s in enumerate(stakes)]
    refs = [Ref("a", "long"), Ref("b", "short")]
    targets = tuple(Target(r.model, r.side, k, round(v, 2)) for (r, k), v in
                    zip(itertools.product(refs, regime.scores), tvals))
    if not any(t.target > 0 for t in targets):
        return
    plan = solve(SlotProblem.build(slots, targets, regime, ("a", "b")), time_limit=20)
    tg = {(t.model, t.side, t.score): t.target for t in targets}
    cands = list(dict.fromkeys(Ref(t.model, t.side) for t in targets if t.target > 0))
    best = np.inf
    for choice in itertools.product(range(len(cands)), range(len(regime.combinations)), repeat=len(slots)):
        ach = {}
        for j in range(len(slots)):
            c, p = choice[2 * j], choice[2 * j + 1]
            for k, m in zip(regime.scores, regime.combinations[p]):
                key = (cands[c].model, cands[c].side, k)
                ach[key] = ach.get(key, 0.0) + slots[j].stake * m
        best = min(best, sum(abs(ach.get(k, 0.0) - tg.get(k, 0.0)) for k in set(ach) | set(tg)))
    assert plan.solver.status == "optimal"
    assert plan.solver.objective == pytest.approx(best, abs=0.011)


# --- HRP on random windows -------------------------------------------------------------------------


@given(st.integers(1, 6), st.integers(2, 40), st.sampled_from(["MV", "CVaR", "MDD", "EDaR", "UCI", "WR", "MAD"]),
       st.integers(0, 2**31 - 1), st.sampled_from(["none", "constant", "never-losing", "duplicate"]))
def test_hrp_valid_weights_or_a_clear_error(n, T, rm, seed, trap):
    from stakealloc.hrp import RiskMeasure, hrp

    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(0.0, 0.02, (T, n)), columns=[f"i{j}" for j in range(n)])
    if trap == "constant":
        X.iloc[:, 0] = 0.01
    elif trap == "never-losing":
        X.iloc[:, 0] = np.abs(X.iloc[:, 0])
    elif trap == "duplicate" and n > 1:
        X.iloc[:, 1] = X.iloc[:, 0]
    try:
        w = hrp(X, RiskMeasure(rm)).weights
    except StakeallocError:
        return
    assert list(w.index) == list(X.columns)
    assert np.isfinite(w).all() and (w >= 0).all() and w.sum() == pytest.approx(1.0, abs=1e-9)


# --- the other parsers: snapshots, targets CSVs, cache and cell files -------------------------------------

csv_cells = st.one_of(st.text(alphabet=string.printable, max_size=8), st.sampled_from(
    ["1", "0", "-3", "1e20", "inf", "nan", "NA", "", "5_000", "0.1", "true", "corr", "a", "short"]))
csv_docs = st.lists(st.lists(csv_cells, min_size=0, max_size=6), max_size=6).map(
    lambda rows: "\n".join(",".join(r) for r in rows) + "\n")


@given(body=csv_docs, header=st.sampled_from(["round,model,score,value", "round,model,score,value,resolved",
                                              "model,side,score,target", ""]))
def test_snapshot_and_targets_parsers_refuse_instead_of_crashing(body, header, tmp_path_factory):
    from stakealloc.regimes import PRESETS
    from stakealloc.scores import read_snapshot
    from stakealloc.targets import parse_csv

    text = (header + "\n" if header else "") + body
    p = tmp_path_factory.mktemp("csv") / "s.csv"
    p.write_text(text)
    try:
        t = read_snapshot(p)
        assert t["round"].between(1, 100_000).all() and np.isfinite(t["value"].dropna()).all()
    except StakeallocError:
        pass
    try:
        tg = parse_csv(text, "t.csv", PRESETS["classic-2024"], ("a", "corr"))
        assert all(np.isfinite(x.target) and x.target > 0 for x in tg)
    except StakeallocError:
        pass


@given(payload=values)
def test_cache_and_cell_files_with_a_valid_checksum_refuse_bad_values(payload, tmp_path_factory):
    """A payload of any shape under a valid checksum: read as Corrupt (computed again), never a crash."""
    from stakealloc.cache import Cache, Corrupt
    from stakealloc.sweep import Cell, _row_sha, _Store

    d = tmp_path_factory.mktemp("cache")
    c = Cache(d, 8)
    for kind, name in (("scores", "m"), ("rules", "rounds"), ("facts", "slots")):
        c._write(c._path(kind, name), {"model": "m", "model_id": "id", "rows": payload, "rounds": payload}
                 if kind != "facts" else payload)
    for load in (lambda: c.load_scores("m"), c.load_rules, c.load_facts):
        try:
            load()
        except Corrupt:
            pass
    store = _Store(d)
    store.dir.mkdir(exist_ok=True)
    cell = Cell("MV", 60, "single", "exposure")
    try:
        sha = _row_sha(payload) if isinstance(payload, dict) else "x"
    except (TypeError, ValueError):
        sha = "x"
    (store.dir / "k.json").write_text(json.dumps({"key": "k", "row": payload, "sha256": sha}, allow_nan=True))
    assert store.load("k", cell) is None or set(store.load("k", cell)) >= {"sharpe"}
