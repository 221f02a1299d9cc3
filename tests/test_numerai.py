"""The real client against a local server on 127.0.0.1: requests, parsing, retries, cache, secrets."""

import json
import logging
import os

import pytest

from conftest import BASE_FLEET, run_cli
from fake_numerai import CURRENT_ROUND, FakeNumerai
from stakealloc.cache import Cache
from stakealloc.errors import ApiError, ConfigError, UnknownModelError
from stakealloc.numerai import Client, ScoreRow, parse_performances

SECRET = "SECRETKEY-do-not-leak-42"
PUBLIC = "PUBLICID-7"


def client(fake, **kw):
    slept = []
    kw.setdefault("timeout", 5.0)
    c = Client(fake.url, sleep=slept.append, backoff=0.01, pause=0.0, **kw)
    return c, slept


def test_parse_keeps_the_final_day_maps_names_and_ignores_order():
    perf = [
        {"roundNumber": 5, "roundResolved": False, "submissionScores": [
            {"displayName": "v2_corr20", "value": 0.3, "day": 20}, {"displayName": "mmc", "value": -0.1, "day": 3}]},
        {"roundNumber": 4, "roundResolved": True, "submissionScores": [
            {"displayName": "canon_corr", "value": 0.2, "day": 20}, {"displayName": "canon_corr", "value": 0.9, "day": 11},
            {"displayName": "v2_corr20", "value": 0.7, "day": 20}, {"displayName": "fnc_v4", "value": 1.0, "day": 20},
            {"displayName": "canon_tc", "value": None, "day": 20}, {"displayName": "tc", "value": 0.05, "day": 19}]},
    ]
    rows = parse_performances(perf, "m")
    assert rows == [ScoreRow(4, "corr", 0.2, True), ScoreRow(4, "tc", 0.05, True),
                    ScoreRow(5, "corr", 0.3, False), ScoreRow(5, "mmc", -0.1, False)]


def test_requests_variables_and_no_auth_without_keys(bundled):
    with FakeNumerai(bundled, ["fearindex"]) as fake:
        c, _ = client(fake)
        assert c.model_id("fearindex") == "id-fearindex"
        rows = c.performances("id-fearindex", "fearindex", 10)
        assert c.current_round() == CURRENT_ROUND
        assert c.stake("fearindex") == 100.5
        assert c.multipliers("fearindex") == {"corr": 0.5, "mmc": 2.0, "tc": 0.0}
    bodies = [r["body"] for r in fake.requests]
    assert bodies[0]["variables"] == {"n": "fearindex"}
    assert bodies[1]["variables"] == {"id": "id-fearindex", "n": 10}
    assert "tournament: 8" in bodies[1]["query"] and "lastNRounds: $n" in bodies[1]["query"]
    assert all("Authorization" not in r["headers"] for r in fake.requests)
    assert {r.round for r in rows} == set(range(CURRENT_ROUND - 10 + 1, 1198))
    ref = bundled[(bundled["model"] == "fearindex") & (bundled["round"] == 1190) & (bundled["score"] == "corr")]
    assert [r.value for r in rows if r.round == 1190 and r.score == "corr"] == [float(ref["value"].iloc[0])]
    assert all(not r.resolved for r in rows if r.round >= 1178)


def test_auth_header_exact_form_only_where_needed(bundled):
    with FakeNumerai(bundled, []) as fake:
        fake.account = [("slot_b", "id-b"), ("slot_a", "id-a")]
        fake.stakes.update({"slot_a": "1234.5678", "slot_b": "0.1"})
        c, _ = client(fake, public_id=PUBLIC, secret_key=SECRET)
        lines = c.slots_toml()
        assert "Client(" in repr(c) and SECRET not in repr(c)
    auth = [r["headers"].get("Authorization") for r in fake.requests]
    assert auth[0] == f"Token {PUBLIC}${SECRET}"
    assert auth[1:] == [None, None]  # stake queries are public
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

FLEET_API = BASE_FLEET.replace("[solver]", '[data]\nsource = "numerai"\ncache_dir = "cache"\n\n[solver]')


def _env(fake, **extra):
    env = {"STAKEALLOC_API_URL": fake.url, "NUMERAI_PUBLIC_ID": PUBLIC, "NUMERAI_SECRET_KEY": SECRET}
    env.update(extra)
    return env


MODELS = ["fearindex", "reputation", "jos_stack", "integration_test", "nb_example_model"]


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
        later = [r["body"]["variables"].get("n") for r in fake.requests[n_first:] if "v2Round" in r["body"]["query"]]
        assert later and all(n == CURRENT_ROUND - 1178 + 1 for n in later)  # from the oldest unresolved round
    a, s = json.loads((tmp_path / "api.json").read_text()), json.loads((tmp_path / "snap.json").read_text())
    for key in ("slots", "targets", "weights", "deviation", "total_stake"):
        assert a[key] == s[key], key
    assert a["meta"]["round"] == CURRENT_ROUND and "for round 1198" in r1.stdout
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


def test_graphql_error_for_one_model_exits_nonzero_without_plan(bundled, write_fleet, tmp_path):
    api = write_fleet(FLEET_API)
    with FakeNumerai(bundled, MODELS) as fake:
        fake.error_models = {"jos_stack"}
        r = run_cli("run", str(api), "--json", str(tmp_path / "p.json"), env=_env(fake))
    assert r.returncode == 3
    assert "scores of model 'jos_stack'" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "p.json").exists()


def test_unknown_model_from_api_is_exit_2(bundled, write_fleet, tmp_path):
    api = write_fleet(FLEET_API)
    with FakeNumerai(bundled, MODELS[:-1]) as fake:
        r = run_cli("run", str(api), env=_env(fake))
    assert r.returncode == 2 and "unknown model 'nb_example_model'" in r.stderr


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


def test_cache_writes_are_atomic(tmp_path, monkeypatch):
    cache = Cache(tmp_path)
    cache.save_scores("m", "id-m", [ScoreRow(1, "corr", 0.1, True)])
    good = cache.path_of("m").read_text()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        cache.save_scores("m", "id-m", [ScoreRow(1, "corr", 0.2, True)])
    assert cache.path_of("m").read_text() == good
    assert [p.name for p in tmp_path.iterdir()] == [cache.path_of("m").name]  # no temporary left behind


def test_live_regime_from_stake_info(bundled, write_fleet, tmp_path):
    live = write_fleet(FLEET_API.replace('regime = "classic-2024"', 'regime = "live"'))
    with FakeNumerai(bundled, MODELS) as fake:
        for s in ("slot_a", "slot_b", "slot_c"):
            fake.stakes[s] = "1.0"
            fake.multipliers[s] = {"corrMultiplier": "0.5", "mmcMultiplier": "2", "tcMultiplier": None}
        r = run_cli("run", str(live), "--json", str(tmp_path / "p.json"), env=_env(fake))
        assert r.returncode == 0, r.stderr
        plan = json.loads((tmp_path / "p.json").read_text())
        assert plan["regime"] == {"name": "live", "scores": ["corr", "mmc"], "combinations": [[0.5, 2.0]]}
        fake.multipliers["slot_c"] = {"corrMultiplier": "1", "mmcMultiplier": "3", "tcMultiplier": "0"}
        r = run_cli("run", str(live), env=_env(fake))
        assert r.returncode == 2 and "multipliers differ" in r.stderr and "slot_c: corr 1" in r.stderr


def test_no_logging_of_keys(bundled, caplog):
    caplog.set_level(logging.DEBUG)
    with FakeNumerai(bundled, []) as fake:
        fake.account = [("a", "id-a")]
        c, _ = client(fake, public_id=PUBLIC, secret_key=SECRET)
        c.account_models()
    assert SECRET not in caplog.text


def test_slots_command_lists_account_models(bundled):
    with FakeNumerai(bundled, []) as fake:
        fake.account = [("my_model", "id-1")]
        fake.stakes["my_model"] = "42.25"
        r = run_cli("slots", env=_env(fake))
        assert r.returncode == 0, r.stderr
        assert '[[slots]]\nname = "my_model"\nstake = 42.25' in r.stdout
        assert SECRET not in r.stdout + r.stderr
        r = run_cli("slots", env={"STAKEALLOC_API_URL": fake.url, "NUMERAI_PUBLIC_ID": "", "NUMERAI_SECRET_KEY": ""})
        assert r.returncode == 2 and "needs NUMERAI_PUBLIC_ID" in r.stderr
