"""The real client against a local server on 127.0.0.1: requests, parsing, retries, cache, secrets."""

import json
import logging

import pytest
from conftest import BASE_FLEET, COLUMNS, run_cli
from fake_numerai import (
    CURRENT_ROUND,
    DEPRECATED,
    NOT_IN_SCHEMA,
    FakeNumerai,
    config,
    scores_from_table,
    strategy_stake,
)

from stakealloc.cache import Cache
from stakealloc.errors import ApiError, ConfigError, UnknownModelError
from stakealloc.numerai import (
    Client,
    ScoreRow,
    parse_performances,
    parse_submission_scores,
)
from stakealloc.report import slots_toml

SECRET = "SECRETKEY-do-not-leak-42"
PUBLIC = "PUBLICID-7"


def client(fake, **kw):
    slept = []
    kw.setdefault("timeout", 5.0)
    c = Client(fake.url, sleep=slept.append, backoff=0.01, pause=0.0, **kw)
    return c, slept


def test_parse_keeps_the_final_day_every_identity_and_ignores_order():
    items = [
        {"roundNumber": 5, "displayName": "v2_corr20", "version": "2", "value": 0.3, "day": 20, "resolved": False},
        {"roundNumber": 4, "displayName": "canon_corr", "version": "1", "value": 0.9, "day": 11, "resolved": False},
        {"roundNumber": 5, "displayName": "mmc", "version": "1", "value": -0.1, "day": 3, "resolved": False},
        {"roundNumber": 4, "displayName": "canon_corr", "version": "1", "value": 0.2, "day": 20, "resolved": True},
        {"roundNumber": 4, "displayName": "v2_corr20", "version": "2", "value": 0.7, "day": 20, "resolved": True},
        {"roundNumber": 4, "displayName": "canon_tc", "version": "1", "value": None, "day": 20, "resolved": True},
        {"roundNumber": 4, "displayName": "alpha", "version": None, "value": 0.05, "day": 19, "resolved": True},
    ]
    rows = parse_submission_scores(items, "m")
    # Every displayName stays itself: canon_corr beside v2_corr20, alpha as alpha; no alias, no closed list.
    assert rows == [ScoreRow(4, "alpha", 0.05, True, None), ScoreRow(4, "canon_corr", 0.2, True, "1"),
                    ScoreRow(4, "v2_corr20", 0.7, True, "2"), ScoreRow(5, "mmc", -0.1, False, "1"),
                    ScoreRow(5, "v2_corr20", 0.3, False, "2")]
    legacy = [{"roundNumber": 4, "roundResolved": True, "submissionScores": [
        {"displayName": "canon_corr", "value": 0.2, "day": 20}, {"displayName": "canon_corr", "value": 0.9, "day": 11},
        {"displayName": "mpc", "value": 0.1, "day": 20}]}]
    assert parse_performances(legacy, "m") == [ScoreRow(4, "canon_corr", 0.2, True), ScoreRow(4, "mpc", 0.1, True)]


@pytest.mark.parametrize("item,needle", [
    ({"roundNumber": "x", "displayName": "mmc", "value": 0.1}, "round number 'x' is not a whole number"),
    ({"roundNumber": 1.5, "displayName": "mmc", "value": 0.1}, "round number 1.5"),
    ({"roundNumber": 10 ** 9, "displayName": "mmc", "value": 0.1}, "in 1..100000"),
    ({"roundNumber": 4, "displayName": ["mmc"], "value": 0.1}, "displayName: ['mmc'] is not a non-empty string"),
    ({"roundNumber": 4, "displayName": "mmc", "value": "abc"}, "value: 'abc' is not a number"),
    ({"roundNumber": 4, "displayName": "mmc", "value": "NaN"}, "is not a finite number"),
    ({"roundNumber": 4, "displayName": "mmc", "value": 0.1, "resolved": "yes"}, "resolved: 'yes' is not true/false"),
])
def test_parse_rejects_wrong_types_field_by_field(item, needle):
    with pytest.raises(ApiError, match="scores of model 'm'") as e:
        parse_submission_scores([item], "m")
    assert needle in str(e.value)


def test_requests_variables_and_no_auth_without_keys(bundled):
    with FakeNumerai(bundled, ["fearindex"]) as fake:
        c, _ = client(fake)
        assert c.model_id("fearindex") == "id-fearindex"
        rows = c.scores("id-fearindex", "fearindex", 10)
        assert c.current_round() == CURRENT_ROUND
        assert c.stake("fearindex") == 100.5
    bodies = [r["body"] for r in fake.requests]
    assert bodies[0]["variables"] == {"n": "fearindex", "tournament": 8}  # v3UserProfile gets the tournament
    assert bodies[1]["variables"] == {"modelId": "id-fearindex", "tournament": 8, "lastNRounds": 10}
    query = "submissionScores(modelId: $modelId, tournament: $tournament, lastNRounds: $lastNRounds)"
    assert query in bodies[1]["query"]
    assert bodies[2]["variables"] == {"tournament": 8}
    assert all("Authorization" not in r["headers"] for r in fake.requests)
    assert {r.round for r in rows} == set(range(CURRENT_ROUND - 10 + 1, 1198))
    ref = bundled[(bundled["model"] == "fearindex") & (bundled["round"] == 1190) & (bundled["score"] == "canon_corr")]
    assert [r.value for r in rows if r.round == 1190 and r.score == "v2_corr20"] == [float(ref["value"].iloc[0])]
    # the comparison score keeps its own name and its own (other) values
    assert [r.value for r in rows if r.round == 1190 and r.score == "canon_corr"] == [float(ref["value"].iloc[0]) + 0.5]
    assert all(not r.resolved for r in rows if r.round >= 1178)


def test_auth_header_exact_form_only_where_needed(bundled):
    with FakeNumerai(bundled, []) as fake:
        fake.account = [("slot_b", "id-b"), ("slot_a", "id-a")]
        fake.stakes.update({"slot_a": "1234.5678", "slot_b": "0.1"})
        c, _ = client(fake, public_id=PUBLIC, secret_key=SECRET)
        lines = slots_toml(c.account_slots(per_round=False))
        assert "Client(" in repr(c) and SECRET not in repr(c)
    auth = [r["headers"].get("Authorization") for r in fake.requests]
    assert auth[0] == f"Token {PUBLIC}${SECRET}"
    assert auth[1:] == [None] * 3  # the open round's rules and the stake queries are public
    text = "\n".join(lines)
    assert 'name = "slot_a"\nstake = 1234.5678' in text and text.index("slot_a") < text.index("slot_b")
    assert SECRET not in text


def test_account_without_keys_is_a_clear_error(bundled):
    with FakeNumerai(bundled, []) as fake:
        c, _ = client(fake)
        with pytest.raises(ConfigError, match="NUMERAI_PUBLIC_ID and NUMERAI_SECRET_KEY"):
            c.account_models()
        assert fake.requests == []


def test_retries_500_429_with_retry_after_timeout_and_malformed(bundled):
    with FakeNumerai(bundled, ["fearindex"]) as fake:
        fake.timeout_sleep = 1.0
        fake.faults = ["500", ("429", 7), "timeout", "malformed"]
        c, slept = client(fake, timeout=0.3, retries=5)
        assert c.model_id("fearindex") == "id-fearindex"
    assert len(fake.requests) == 5
    assert slept[1] == 7  # Retry-After honoured
    assert slept[0] == pytest.approx(0.01) and slept[2] == pytest.approx(0.04)  # exponential backoff


def test_gives_up_with_a_clear_error(bundled):
    with FakeNumerai(bundled, ["fearindex"]) as fake:
        fake.faults = ["500"] * 10
        c, slept = client(fake, retries=2)
        with pytest.raises(ApiError, match=r"id of model 'fearindex': gave up after 3 attempts: HTTP 500"):
            c.model_id("fearindex")
    assert len(fake.requests) == 3 and len(slept) == 2


def test_graphql_errors_and_null_profile(bundled):
    with FakeNumerai(bundled, ["fearindex"]) as fake:
        c, _ = client(fake)
        fake.faults = [("errors", "rate limited for modelName")]
        with pytest.raises(ApiError, match="stake of model 'fearindex': the API answered with an error: rate limited"):
            c.stake("fearindex")
        with pytest.raises(UnknownModelError, match="unknown model 'nosuch'") as e:
            c.model_id("nosuch")
        assert e.value.exit_code == 2


# --- the CLI with source = "numerai" ------------------------------------------------------

# The stand-in serves v2_corr20 and mmc by those names, so the API fleet maps no columns.
FLEET_API = BASE_FLEET.replace(COLUMNS, 'source = "numerai"\ncache_dir = "cache"')


def _env(fake, **extra):
    env = {"STAKEALLOC_API_URL": fake.url, "NUMERAI_PUBLIC_ID": PUBLIC, "NUMERAI_SECRET_KEY": SECRET}
    env.update(extra)
    return env


MODELS = ["fearindex", "reputation", "jos_stack", "integration_test", "nb_example_model"]


@pytest.mark.slow
def test_api_run_equals_snapshot_run_then_offline_reproduces_it(bundled, write_fleet, tmp_path):
    snap = write_fleet(BASE_FLEET, "snap.toml")
    api = write_fleet(FLEET_API.replace("stake = 600.0\n", ""), "api.toml")
    with FakeNumerai(bundled, MODELS) as fake:
        fake.stakes["slot_b"] = "600.0"
        r1 = run_cli("run", str(api), "--json", str(tmp_path / "api.json"), env=_env(fake))
        assert r1.returncode == 0, r1.stderr
        n_first = len(fake.requests)
        r2 = run_cli("run", str(snap), "--json", str(tmp_path / "snap.json"))
        assert r2.returncode == 0, r2.stderr
        # a second online run fetches only what can still change
        r3 = run_cli("fetch", str(api), env=_env(fake))
        assert r3.returncode == 0, r3.stderr
        later = [r["body"]["variables"]["lastNRounds"] for r in fake.requests[n_first:]
                 if "submissionScores" in r["body"]["query"]]
        assert later and all(n == CURRENT_ROUND - 1178 + 1 for n in later)  # from the oldest unresolved round
    a, s = json.loads((tmp_path / "api.json").read_text()), json.loads((tmp_path / "snap.json").read_text())
    for key in ("slots", "targets", "weights", "deviation", "total_stake"):
        assert a[key] == s[key], key
    assert a["meta"]["round"] == CURRENT_ROUND
    assert "for round 1198 (staking closes 2026-12-01T13:00:00+00:00)" in r1.stdout
    assert a["meta"]["deadline"] == "2026-12-01T13:00:00+00:00"
    # offline, from the cache alone, with the server gone
    r4 = run_cli("run", str(api), "--offline", "--json", str(tmp_path / "off.json"),
                 env={"STAKEALLOC_API_URL": "http://127.0.0.1:9"})
    assert r4.returncode == 0, r4.stderr
    off = json.loads((tmp_path / "off.json").read_text())
    for key in ("slots", "targets", "weights", "deviation"):
        assert off[key] == a[key]
    # keys never appear in output, cache or plan
    blobs = [r1.stdout, r1.stderr, r3.stdout, r3.stderr, r4.stdout, r4.stderr, (tmp_path / "api.json").read_text()]
    blobs += [p.read_text() for p in (tmp_path / "cache").glob("*")]
    assert len(blobs) > 8 and not any(SECRET in b or PUBLIC in b for b in blobs)


@pytest.mark.slow
def test_graphql_error_for_one_model_exits_nonzero_without_plan(bundled, write_fleet, tmp_path):
    api = write_fleet(FLEET_API)
    with FakeNumerai(bundled, MODELS) as fake:
        fake.error_models = {"jos_stack"}
        r = run_cli("run", str(api), "--json", str(tmp_path / "p.json"), env=_env(fake))
    assert r.returncode == 3
    assert "scores of model 'jos_stack'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "p.json").exists()


@pytest.mark.slow
def test_unknown_model_from_api_is_exit_2(bundled, write_fleet, tmp_path):
    api = write_fleet(FLEET_API)
    with FakeNumerai(bundled, MODELS[:-1]) as fake:
        r = run_cli("run", str(api), env=_env(fake))
    assert r.returncode == 2 and "unknown model 'nb_example_model'" in r.stderr


@pytest.mark.slow
def test_offline_names_missing_models_and_corrupt_cache_is_refetched(bundled, write_fleet, tmp_path):
    api = write_fleet(FLEET_API)
    r = run_cli("run", str(api), "--offline", env={"STAKEALLOC_API_URL": "http://127.0.0.1:9"})
    assert r.returncode == 3 and "no cached scores for fearindex, reputation, jos_stack" in r.stderr
    with FakeNumerai(bundled, MODELS) as fake:
        assert run_cli("fetch", str(api), env=_env(fake)).returncode == 0
        cache = Cache(tmp_path / "cache")
        path = cache.path_of("reputation")
        path.write_text(path.read_text()[:200])  # truncated
        r = run_cli("run", str(api), "--offline", env=_env(fake))
        assert r.returncode == 3 and ("checksum mismatch" in r.stderr or "unreadable" in r.stderr)
        before = len(fake.requests)
        r = run_cli("fetch", str(api), env=_env(fake))
        assert r.returncode == 0 and "fetching again" in r.stderr
        assert any(x["body"]["variables"].get("n") == "reputation" for x in fake.requests[before:])
    assert cache.load_scores("reputation") is not None


@pytest.mark.slow
def test_cache_writes_are_atomic(tmp_path):
    """A write that fails half-way (a real one: the process may write files of at most 64 bytes, so the new
    file's write fails) leaves the old file as it was and no temporary behind."""
    import subprocess
    import sys

    cache = Cache(tmp_path)
    cache.save_scores("m", "id-m", [ScoreRow(1, "corr", 0.1, True)])
    good = cache.path_of("m").read_text()
    code = ("import resource, signal, sys\n"
            "from stakealloc.cache import Cache\n"
            "from stakealloc.errors import DataError\n"
            "from stakealloc.numerai import ScoreRow\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))\n"
            "try:\n"
            "    Cache(sys.argv[1]).save_scores('m', 'id-m', [ScoreRow(r, 'corr', 0.2, True) for r in range(1, 50)])\n"
            "except DataError as e:\n"
            "    print(e)\n")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("cache: cannot write") and "too large" in r.stdout, r.stderr
    assert cache.path_of("m").read_text() == good
    assert [p.name for p in tmp_path.iterdir()] == [cache.path_of("m").name]  # no temporary left behind


def _plan(tmp_path, name="p.json"):
    return json.loads((tmp_path / name).read_text())


def _no_deprecated_queries(fake):
    for field in DEPRECATED + NOT_IN_SCHEMA:
        assert fake.queries_naming(field) == [], field


# A fixed-stake live fleet (the default for live is per-round staking: tests/test_perround_api.py).
LIVE_FLEET = FLEET_API.replace('regime = "classic-2024"', 'regime = "live"') + '\n[staking]\nsystem = "fixed"\n'



@pytest.mark.slow
def test_live_classic_plan_is_built_on_the_served_rules(bundled, write_fleet, tmp_path):
    """The open round's payout configs, exactly: scores in the API's order with name and version, multipliers,
    factors and clip; the non-payout canon_corr (other values) never enters the instruments."""
    with FakeNumerai(bundled, MODELS) as fake:
        fake.configs[CURRENT_ROUND] = [config("canon_corr", 0.0), config("v2_corr20", 0.75, factor=1.0),
                                       config("mmc", 2.25, factor=0.5, clip=0.05)]
        r = run_cli("run", str(write_fleet(LIVE_FLEET)), "--json", str(tmp_path / "p.json"), env=_env(fake))
        assert r.returncode == 0, r.stderr
        _no_deprecated_queries(fake)
    plan = _plan(tmp_path)
    reg = plan["regime"]
    assert reg["name"] == "live" and reg["source"] == "api" and reg["round"] == CURRENT_ROUND
    assert reg["scores"] == ["v2_corr20", "mmc"] and reg["combinations"] == [[0.75, 2.25]]
    assert reg["identity"] == [{"displayName": "v2_corr20", "name": "corr20", "version": "2"},
                               {"displayName": "mmc", "name": "mmc", "version": "2"}]
    assert reg["payout_factors"] == {"v2_corr20": 1.0, "mmc": 0.5} and reg["clip"] == 0.05
    assert reg["columns"] == {"v2_corr20": "v2_corr20", "mmc": "mmc"}
    assert plan["leverage"]["desired"] == 3.0  # fixed by the one combination: 0.75 + 2.25
    assert all("canon" not in n for n in plan["weights"]) and plan["weights"]
    for s in plan["slots"]:
        assert s["multipliers"] == {"v2_corr20": 0.75, "mmc": 2.25}
        assert s["exposure"] == {"v2_corr20": s["stake"] * 0.75, "mmc": s["stake"] * 2.25}
    assert "the API's rules for round 1198" in r.stdout and "v2_corr20 (name corr20, version 2)" in r.stdout
    # the same plan from a snapshot of the payout scores: canon_corr's other values changed nothing
    snap = tmp_path / "payout.csv"
    rows = bundled.assign(score=bundled["score"].map({"canon_corr": "v2_corr20", "canon_mmc": "mmc"}))
    rows.to_csv(snap, index=False)
    custom = BASE_FLEET.replace(COLUMNS, f'snapshot = "{snap}"').replace(
        'regime = "classic-2024"', 'regime = "custom"\nscores = ["v2_corr20", "mmc"]\ncombinations = [[0.75, 2.25]]\n'
        'clip = 0.05')
    r2 = run_cli("run", str(write_fleet(custom, "snap.toml")), "--json", str(tmp_path / "s.json"))
    assert r2.returncode == 0, r2.stderr
    assert _plan(tmp_path, "s.json")["weights"] == plan["weights"]


@pytest.mark.slow
def test_live_grid_from_min_max_and_multiplier_step(bundled, write_fleet, tmp_path):
    with FakeNumerai(bundled, MODELS) as fake:
        fake.configs[CURRENT_ROUND] = [config("v2_corr20", 0.0, 1.0), config("mmc", 0.5, 2.0)]
        fleet = write_fleet(LIVE_FLEET.replace('regime = "live"', 'regime = "live"\nmultiplier_step = 0.75'))
        r = run_cli("run", str(fleet), "--json", str(tmp_path / "p.json"), env=_env(fake))
        assert r.returncode == 0, r.stderr
        reg = _plan(tmp_path)["regime"]
        # corr: 0, 0.75, then max 1 always included; mmc: 0.5, 1.25, 2
        assert reg["combinations"] == [[c, m] for c in (0.0, 0.75, 1.0) for m in (0.5, 1.25, 2.0)]
        assert _plan(tmp_path)["leverage"]["desired"] == 2.0
        fine = write_fleet(LIVE_FLEET.replace('regime = "live"', 'regime = "live"\nmultiplier_step = 0.001'), "f.toml")
        r = run_cli("run", str(fine), env=_env(fake))
        assert r.returncode == 2 and "payout.multiplier_step: 0.001 gives" in r.stderr and "at most 1000" in r.stderr
        fake.configs[CURRENT_ROUND] = [config("v2_corr20", 0.5, clip=0.05), config("mmc", 2.0, clip=0.1)]
        r = run_cli("run", str(write_fleet(LIVE_FLEET, "c.toml")), env=_env(fake))
        assert r.returncode == 3 and "different clipThresholds (0.05, 0.1)" in r.stderr


@pytest.mark.slow
def test_no_open_round_takes_the_newest_with_payout_configs(bundled, write_fleet, tmp_path):
    with FakeNumerai(bundled, MODELS) as fake:
        fake.open_round = None
        fake.configs[CURRENT_ROUND] = [config("canon_corr", 0.0)]  # not yet configured: no payout score
        fake.configs[1197] = [config("v2_corr20", 1.0), config("mmc", 3.0)]
        r = run_cli("run", str(write_fleet(LIVE_FLEET)), "--json", str(tmp_path / "p.json"), env=_env(fake))
        assert r.returncode == 0, r.stderr
    reg = _plan(tmp_path)["regime"]
    assert reg["round"] == 1197 and reg["combinations"] == [[1.0, 3.0]]
    assert "no round is open: the payout rules are those of round 1197" in r.stdout
    assert _plan(tmp_path)["meta"]["round"] == CURRENT_ROUND  # the round the plan is for
    # offline, the cached rules give the same regime
    r = run_cli("run", str(write_fleet(LIVE_FLEET)), "--offline", "--json", str(tmp_path / "o.json"),
                env={"STAKEALLOC_API_URL": "http://127.0.0.1:9"})
    assert r.returncode == 0, r.stderr
    assert _plan(tmp_path, "o.json")["regime"]["round"] == 1197


@pytest.mark.slow
def test_live_current_multipliers_are_checked_against_the_live_scores(bundled, write_fleet):
    with FakeNumerai(bundled, MODELS) as fake:
        fleet = LIVE_FLEET.replace('current = "fearindex"',
                                   'current = "fearindex"\ncurrent_multipliers = { corr = 0.5 }')
        r = run_cli("run", str(write_fleet(fleet)), env=_env(fake))
    assert r.returncode == 2
    assert "current_multipliers.corr: not a payout score of the live regime of round 1198" in r.stderr


SIGNALS_FLEET = """
models = ["sig_a", "sig_b", "sig_c"]

[portfolio]
risk_measure = "CVaR"
min_rounds = 30
lookback = 60

[payout]
regime = "live"

[data]
source = "numerai"
tournament = "signals"
cache_dir = "cache"

[staking]
system = "fixed"

[[slots]]
name = "s1"
stake = 500.0
current = "sig_a"

[[slots]]
name = "s2"
stake = 300.0
"""


@pytest.mark.slow
def test_signals_fleet_end_to_end(write_fleet, tmp_path):
    """Tournament 11 paying alpha and mpc: every query names tournament 11, scores keep their names."""
    import numpy as np
    import pandas as pd
    from fake_numerai import scores_from_table

    rng = np.random.default_rng(5)
    rows = [(r, m, k, float(rng.normal(0.002 * (i + 1) * (1 if k == "alpha" else -1), 0.01)), r < 1180)
            for i, m in enumerate(["sig_a", "sig_b", "sig_c"]) for k in ("alpha", "mpc") for r in range(1100, 1198)]
    table = pd.DataFrame(rows, columns=["round", "model", "score", "value", "resolved"])
    with FakeNumerai(None, [], tournament=11) as fake:
        for m in ("sig_a", "sig_b", "sig_c"):
            fake.add_model(m, scores_from_table(table, m, names={}), tournament=11)
        fake.configs = {r: [config("alpha", 1.0, clip=0.1), config("mpc", 2.0, clip=0.1)] for r in range(1100, 1199)}
        r = run_cli("run", str(write_fleet(SIGNALS_FLEET)), "--json", str(tmp_path / "p.json"), env=_env(fake))
        assert r.returncode == 0, r.stderr
        _no_deprecated_queries(fake)
        ts = [x["body"]["variables"].get("tournament") for x in fake.requests if "tournament" in x["body"]["query"]]
        assert ts and set(ts) == {11}
        # a Classic fleet of the same names finds no Classic scores
        classic = SIGNALS_FLEET.replace('tournament = "signals"', 'tournament = "classic"')
        r2 = run_cli("run", str(write_fleet(classic, "c.toml")), env=_env(fake))
        assert r2.returncode == 3, r2.stderr
    plan = _plan(tmp_path)
    assert plan["regime"]["scores"] == ["alpha", "mpc"] and plan["regime"]["combinations"] == [[1.0, 2.0]]
    assert plan["regime"]["clip"] == 0.1 and plan["data"]["last_round"] == 1179
    assert set(plan["weights"]) <= {f"{p}{m}_payout" for m in ("sig_a", "sig_b", "sig_c") for p in ("", "short_")}
    assert (tmp_path / "cache" / "t11-scores-sig_a.json").exists()


@pytest.mark.slow
def test_fallback_to_the_old_query_only_on_a_schema_error(bundled, write_fleet, tmp_path):
    with FakeNumerai(bundled, ["fearindex"]) as fake:
        fake.old_server = True
        c, _ = client(fake)
        warned = []
        c._warn = warned.append
        rows = c.scores("id-fearindex", "fearindex", 10)
        rows2 = c.scores("id-fearindex", "fearindex", 10)
        assert rows == rows2 and {r.score for r in rows} == {"v2_corr20", "mmc", "canon_corr"}
        assert len(warned) == 1 and "falling back to the deprecated v2RoundModelPerformances" in warned[0]
        assert sum("submissionScores(" in x["body"]["query"] for x in fake.requests) == 1  # asked once, then not
    with FakeNumerai(bundled, ["fearindex"]) as fake:
        fake.faults = ["500"] * 10
        c, _ = client(fake, retries=2)
        with pytest.raises(ApiError, match="gave up after 3 attempts: HTTP 500"):
            c.scores("id-fearindex", "fearindex", 10)
        fake.faults = [("errors", "Not authorized")]
        with pytest.raises(ApiError, match="Not authorized"):
            c.scores("id-fearindex", "fearindex", 10)
        assert fake.queries_naming("v2RoundModelPerformances") == []


@pytest.mark.slow
def test_backtest_books_each_round_under_its_cached_rules(bundled, write_fleet, tmp_path):
    """`fetch` caches every round's roundScoreConfigs; the backtest, offline from the cache, books rounds from
    1100 on at 0.75/2.25 and the earlier ones at 0.5/2, each under its own rules."""
    with FakeNumerai(bundled, MODELS) as fake:
        for r in range(1100, CURRENT_ROUND + 1):
            fake.configs[r] = [config("v2_corr20", 0.75), config("mmc", 2.25), config("canon_corr", 0.0)]
        api = write_fleet(FLEET_API)
        assert run_cli("fetch", str(api), env=_env(fake)).returncode == 0
        _no_deprecated_queries(fake)
    r = run_cli("backtest", str(api), "--offline", "--risk-measures", "MV", "--json", str(tmp_path / "bt.json"),
                env={"STAKEALLOC_API_URL": "http://127.0.0.1:9"})
    assert r.returncode == 0, r.stderr
    bt = _plan(tmp_path, "bt.json")
    st = bt["settings"]
    # every round of the history has its own rules in the stand-in: 0.5/2 before 1100, 0.75/2.25 from then on
    held = {x["round"] for x in bt["payouts"]}
    assert st["lag"] == 25 and st["own_rules_rounds"] == len(held) and st["plan_rules_rounds"] == 0
    pay = {x["round"]: x["payout"] for x in bt["payouts"] if x["strategy"] == "current"}
    t = bundled[bundled["model"] == "fearindex"].pivot(index="round", columns="score", values="value")
    import numpy as np

    for rnd, (c, m) in ((1050, (0.5, 2.0)), (1150, (0.75, 2.25))):
        expect = 1000 * float(np.clip(c * t.loc[rnd, "canon_corr"] + m * t.loc[rnd, "canon_mmc"], -0.05, 0.05))
        assert pay[rnd] == pytest.approx(expect), rnd


@pytest.mark.slow
def test_old_cache_is_invalidated_with_a_note_never_misread(bundled, write_fleet, tmp_path):
    api = write_fleet(FLEET_API)
    cache = tmp_path / "cache"
    cache.mkdir()
    old = cache / "scores-fearindex.json"
    old.write_text(json.dumps({"format": 1, "sha256": "x", "payload": {"model": "fearindex", "model_id": "id-fearindex",
                                                                     "rows": [[1100, "corr", 0.9, True]]}}))
    r = run_cli("run", str(api), "--offline", env={"STAKEALLOC_API_URL": "http://127.0.0.1:9"})
    assert r.returncode == 3 and "older format (short score names); they are not used" in r.stderr
    assert "no cached scores for fearindex" in r.stderr
    with FakeNumerai(bundled, MODELS) as fake:
        r = run_cli("run", str(api), "--json", str(tmp_path / "p.json"), env=_env(fake))
    assert r.returncode == 0, r.stderr
    notes = [ln for ln in r.stderr.splitlines() if "older format" in ln]
    assert len(notes) == 1 and "fetched again by displayName" in notes[0]
    assert not old.exists() and (cache / "t8-scores-fearindex.json").exists()


def test_no_logging_of_keys(bundled, caplog):
    """A server that echoes the token into the schema error the client logs as a warning: the warning is
    logged (so this test sees the logging path), with neither key in it."""
    caplog.set_level(logging.DEBUG)
    with FakeNumerai(bundled, ["fearindex"]) as fake:
        fake.account = [("a", "id-a")]
        c, _ = client(fake, public_id=PUBLIC, secret_key=SECRET)
        c.account_models()
        fake.old_server = True  # serves v2RoundModelPerformances, once the client falls back to it
        fake.faults = [("errors", f'Cannot query field "submissionScores" on type "Query" (sent: Token '
                                  f'{PUBLIC}${SECRET})')]
        rows = c.scores("id-fearindex", "fearindex", 10)
    assert rows and "rejects submissionScores" in caplog.text and "falling back" in caplog.text
    assert SECRET not in caplog.text and PUBLIC not in caplog.text and "***" in caplog.text


@pytest.mark.slow
def test_slots_command_lists_account_models(bundled):
    with FakeNumerai(bundled, []) as fake:
        fake.account = [("my_model", "id-1"), ("my_signal", "id-2", 11), ("other", "id-3")]
        fake.stakes.update({"my_model": "42.25", "my_signal": "7", "other": None})
        fake.configs[fake.open_round] = [config("v2_corr20", 0.75), config("mmc", 2.25), config("canon_corr", 0.0)]
        # per-round staking (the default): the newest strategy stake row of each model; none for "other"
        fake.stake_tx = [strategy_stake("id-1", 1197, "12.5"), strategy_stake("id-1", 1190, "10"),
                         strategy_stake("id-2", 1197, "3", tournament=11)]
        r = run_cli("slots", env=_env(fake))
        assert r.returncode == 0, r.stderr
        assert ('[[slots]]\nname = "my_model"\ncurrent = "my_model"  # edit: what it submits today\n'
                'current_stake = 12.5') in r.stdout
        assert 'name = "other"' in r.stdout and "# current_stake: unknown" in r.stdout
        assert "stakeValue" not in " ".join(q["body"]["query"] for q in fake.requests)  # never under per-round
        # fixed stakes: the stake and the open round's default multipliers (no payoutMultipliers query)
        r = run_cli("slots", "--staking", "fixed", env=_env(fake))
        assert r.returncode == 0, r.stderr
        assert ('[[slots]]\nname = "my_model"\nstake = 42.25\ncurrent = "my_model"  # edit: what it submits today\n'
                'current_multipliers = { v2_corr20 = 0.75, mmc = 2.25 }') in r.stdout
        assert "my_signal" not in r.stdout  # a Signals model is not a Classic slot
        r = run_cli("slots", "--tournament", "signals", "--staking", "fixed", env=_env(fake))
        assert r.returncode == 0 and 'name = "my_signal"' in r.stdout and "my_model" not in r.stdout
        _no_deprecated_queries(fake)
        assert SECRET not in r.stdout + r.stderr
        r = run_cli("slots", env={"STAKEALLOC_API_URL": fake.url, "NUMERAI_PUBLIC_ID": "", "NUMERAI_SECRET_KEY": ""})
        assert r.returncode == 2 and "needs NUMERAI_PUBLIC_ID" in r.stderr


# --- per-round staking against the stand-in API ------------------------------------------------------------

R1343_CONFIGS = [config("corr60", 3.0, days=60, clip=1.0, factor=1.0), config("mmc60", 15.0, days=60, clip=1.0,
                                                                            factor=1.0), config("canon_corr", 0.0)]
PER_ROUND_LIVE = BASE_FLEET.replace(COLUMNS, 'source = "numerai"\ncache_dir = "cache"').replace(
    'regime = "classic-2024"', 'regime = "live"').replace(
    "stake = 1000.0", 'current_stake = 40.0').replace("stake = 600.0", 'current = "reputation"').replace(
    "stake = 400.0\n", "") + "\n[staking]\nnmr = 6400\n"


def _per_round_server(fake, bundled):
    for m in MODELS:
        fake.add_model(m, scores_from_table(bundled, m, {"canon_corr": "corr60", "canon_mmc": "mmc60"}))
    fake.configs = {r: R1343_CONFIGS for r in fake.configs}
    fake.stakes.update({"slot_a": "999", "slot_b": "999", "slot_c": "999"})  # stakeValue: must never be read
    fake.stake_tx = [strategy_stake("id-slot_a", 1197, "35"), strategy_stake("id-slot_b", 1198, "32"),
                     strategy_stake("id-slot_b", 1196, "30"),
                     {**strategy_stake("id-slot_b", 1198, "5"), "type": "strategy payout"}]  # another row type


@pytest.mark.slow
def test_live_per_round_plan_from_round_configs_and_stake_transactions(bundled, write_fleet, tmp_path):
    fleet = write_fleet(PER_ROUND_LIVE)
    with FakeNumerai(bundled, []) as fake:
        _per_round_server(fake, bundled)
        r = run_cli("run", str(fleet), "--json", str(tmp_path / "p.json"), env=_env(fake))
        assert r.returncode == 0, r.stderr
        _no_deprecated_queries(fake)
        assert fake.queries_naming("stakeValue") == []  # the fixed system's stake is not read under per-round
        assert fake.queries_naming("stakeTransactions")
        plan = json.loads((tmp_path / "p.json").read_text())
        reg = plan["regime"]
        assert (reg["name"], reg["source"], reg["scores"], reg["combinations"]) == (
            "live", "api", ["corr60", "mmc60"], [[3.0, 15.0]])
        assert reg["clip"] == 1.0 and reg["payout_factors"] == {"corr60": 1.0, "mmc60": 1.0}
        st = plan["staking"]
        assert st["system"] == "per-round" and st["per_round_budget"] == 100.0
        assert st["locked_now"] == pytest.approx(35 + 32 + 30)  # every row of an unresolved round, strategy stakes
        assert sum(s["per_round_stake"] for s in plan["slots"]) == pytest.approx(100.0)
        cur = {s["slot"]: s["current_stake"] for s in plan["slots"]}
        assert cur == {"slot_a": 40.0, "slot_b": 32.0, "slot_c": None}  # the file wins; the newest row; none
        assert any("slot slot_a: current_stake 40 in the fleet file, 35 NMR per the API" in n for n in plan["notes"])
        assert plan["solver"]["status"] == "optimal" and "locked now" in r.stdout
        # a server without stakeTransactions: the plan says so and uses the file's current_stake
        fake.stake_tx_removed = True
        r = run_cli("run", str(fleet), "--json", str(tmp_path / "q.json"), env=_env(fake))
        assert r.returncode == 0, r.stderr
        q = json.loads((tmp_path / "q.json").read_text())
        assert any(n.startswith("current stakes are unknown: the server rejects stakeTransactions") for n in q["notes"])
        assert {s["slot"]: s["current_stake"] for s in q["slots"]} == {"slot_a": 40.0, "slot_b": None, "slot_c": None}
        assert q["staking"]["locked_now"] is None
    # offline, from the cache (the last fetch's facts)
    r = run_cli("run", str(fleet), "--offline", "--json", str(tmp_path / "o.json"))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("bad", [float("inf"), 8.9, "8", True])
def test_account_model_tournament_must_be_a_whole_number(bad):
    """Infinity was an OverflowError (internal error) and 8.9 was taken as Classic's 8."""
    from fake_numerai import FakeNumerai

    class Odd(FakeNumerai):
        def answer(self, body, headers):
            if "account" in body["query"]:
                return {"data": {"account": {"models": [{"id": "id-1", "name": "m", "tournament": bad}]}}}
            return super().answer(body, headers)

    with Odd(None, []) as fake:
        c, _ = client(fake, public_id=PUBLIC, secret_key=SECRET)
        with pytest.raises(ApiError, match="is not a tournament number"):
            c.account_models()


def test_display_names_from_the_api_must_be_score_names():
    from stakealloc.numerai import parse_configs, parse_submission_scores

    item = {"name": "x", "version": "1", "displayName": "corr\nstakealloc: error: forged", "totalScoreDays": 20,
            "returnsLagDays": 2, "dataDelayDays": 1, "isPayout": True, "minMultiplier": "1", "maxMultiplier": "1",
            "defaultMultiplier": "1", "clipThreshold": None, "stakeThreshold": None, "payoutFactor": None}
    with pytest.raises(ApiError, match="is not a score name"):
        parse_configs([item], "round 5")
    row = {"roundNumber": 5, "displayName": "\x1b[31mred", "version": "1", "value": 0.1, "day": 20, "resolved": True}
    with pytest.raises(ApiError, match="is not a score name"):
        parse_submission_scores([row], "m")


@pytest.mark.parametrize("stake,multiplier", [
    ("0", "0.5"), ("1e-300", "0.5"), ("10999999.5", "0.5"), ("1e400", "0.5"), ("-1", "0.5"), ("NaN", "0.5"),
    ("12.5", "-0.5"), ("12.5", "1e300"), ("12.5", "NaN"), (None, "0.5"),
])
def test_slots_output_always_parses_or_is_refused(bundled, tmp_path, stake, multiplier):
    """Whatever the API states for a stake or a default multiplier, `stakealloc slots` prints a block the fleet
    parser accepts, or refuses the response (ApiError, exit 3): never a block its own parser rejects."""
    from stakealloc.config import parse

    with FakeNumerai(bundled, []) as fake:
        fake.account = [("m1", "id-1")]
        fake.stakes["m1"] = stake
        fake.configs[fake.open_round] = [config("v2_corr20", 0.5, default=float(multiplier)),
                                         config("mmc", 2.0), config("canon_corr", 0.0)]
        fake.stake_tx = [strategy_stake("id-1", 1197, stake if stake is not None else "3")]
        for per_round in (False, True):
            c, _ = client(fake, public_id=PUBLIC, secret_key=SECRET)
            try:
                lines = slots_toml(c.account_slots(per_round=per_round))
            except ApiError as e:
                assert any(w in str(e).lower() for w in ("stake", "multiplier", "amount")), e
                continue
            system = "per-round" if per_round else "fixed"
            extra = "[staking]\nnmr = 1000\n" if per_round else ""
            fleet = tmp_path / f"{system}.toml"
            fleet.write_text(f'models = ["m1"]\n[payout]\nregime = "classic-2024"\n[data]\n{COLUMNS}\n'
                             f'{extra}' + ("[staking]\n" if not per_round else "") + f'system = "{system}"\n'
                             + "\n".join(lines) + "\n")
            if not per_round and not any(ln.startswith("stake =") for ln in lines):
                assert "# stake: the API reports none" in "\n".join(lines)
                continue  # the user is told to write the stake: nothing to parse yet
            spec = parse(fleet)
            assert [s.name for s in spec.slots] == ["m1"]
