"""Fleet file validation: every bad input names its key, exit code 2."""

import re

import pytest
from conftest import BASE_FLEET, ROOT, run_cli

from stakealloc.api import load_fleet
from stakealloc.config import Ref, RiskMeasure
from stakealloc.errors import ConfigError


def test_example_fleet_loads():
    from conftest import ROOT

    f = load_fleet(ROOT / "fleet.toml")
    assert len(f.models) >= 12 and len(f.slots) >= 10
    assert f.payout.regime.name == "classic-r1343" and f.staking.per_round_system and f.staking.budget == 250.0
    assert f.portfolio.leverage == 18  # fixed by the regime
    assert all(s.current is not None and s.current_stake is not None for s in f.slots)
    f = load_fleet(ROOT / "examples" / "classic-2024.toml")
    assert f.payout.regime.name == "classic-2024" and not f.staking.per_round_system
    assert f.portfolio.leverage == 2.5 and any(s.current is not None for s in f.slots)


def test_defaults_and_parsing(write_fleet):
    f = load_fleet(write_fleet())
    assert f.models[0] == "fearindex"
    assert f.slots[0].current == Ref("fearindex", "long")
    assert f.slots[0].current_multipliers == (0.5, 2.0)  # the regime's only combination
    assert f.portfolio.lookback == 100 and f.portfolio.min_rounds == 60
    assert len(f.sha256) == 64


@pytest.mark.parametrize("old,new,needle", [
    ('risk_measure = "MV"', 'risk_mesure = "MV"', "portfolio.risk_mesure: unknown key; did you mean 'risk_measure'?"),
    ('risk_measure = "MV"', 'risk_measure = "cvarr"', "did you mean 'CVaR'"),
    ('risk_measure = "MV"', 'lookback = "100"', "portfolio.lookback: must be a whole number"),
    ('risk_measure = "MV"', 'lookback = 1', "portfolio.lookback: must be ≥ 2"),
    ('risk_measure = "MV"', 'min_weight = -0.1', "portfolio.min_weight"),
    ('risk_measure = "MV"', 'side = "shorts"', "portfolio.side"),
    ('risk_measure = "MV"', 'missing = "fill"', "portfolio.missing"),
    ('risk_measure = "MV"', 'leverage = 2.0', "portfolio.leverage: 2 is not possible in regime 'classic-2024'"),
    ('risk_measure = "MV"', 'max_correlation = 1.5', "portfolio.max_correlation"),
    ('regime = "classic-2024"', 'regime = "classic-2025"', "payout.regime: unknown regime 'classic-2025'"),
    ('regime = "classic-2024"', 'regime = "custom"\nscores = ["corr", "x y"]\ncombinations = [[1, 1]]',
     "payout.scores: 'x y' is not a score name"),
    ('regime = "classic-2024"', 'regime = "custom"\nscores = ["alpha", "mpc"]\ncombinations = [[1, 1]]',
     "data.columns.v2_corr20: 'v2_corr20' is not a payout score of regime 'custom'"),
    ('regime = "classic-2024"', 'regime = "classic-2024"\nmultiplier_step = 0.25',
     "payout.multiplier_step: only used with regime = \"live\""),
    ('mmc = "canon_mmc" }', 'mmc = "canon_corr" }',
     "data.columns.mmc: column 'canon_corr' already stands for another score"),
    ('mmc = "canon_mmc" }', 'mmc = 3 }', "data.columns.mmc: 3 is not a score name"),
    ('[data]\n', '[data]\ntournament = "signal"\n',
     "data.tournament: 'signal' is not one of classic, signals, crypto; did you mean 'signals'?"),
    ('regime = "classic-2024"', 'regime = "custom"\nscores = ["corr"]\ncombinations = []', "payout.combinations"),
    ('regime = "classic-2024"', 'regime = "custom"\nscores = ["corr"]\ncombinations = [[-1]]', "is negative"),
    ('regime = "classic-2024"', 'regime = "custom"\nscores = ["corr", "tc"]\ncombinations = [[1]]',
     "payout.combinations[0]"),
    ('name = "HiGHS"', 'name = "gurobi"', "solver.name"),
    ('time_limit = 20', 'time_limit = 0', "solver.time_limit"),
    ('stake = 600.0', 'stake = -5', "slots[1] (slot_b).stake: must be > 0"),
    ('stake = 600.0', 'stake = true', "slots[1] (slot_b).stake: must be a number"),
    ('stake = 600.0\n', '', "slots[1] (slot_b).stake: required with data.source = \"snapshot\""),
    ('current = "fearindex"', 'current = "fearindx"', "slots[0] (slot_a).current: unknown model 'fearindx'"),
    ('current = "fearindex"', 'curent = "fearindex"', "did you mean 'current'"),
    ('current = "fearindex"', 'current = "fearindex"\ncurrent_multipliers = { v2_corr20 = 1.0, mmc = 2.0 }',
     "not an allowed combination"),
    ('current = "fearindex"', 'current = "fearindex"\ncurrent_multipliers = { corr = 0.5, mmc = 2.0 }',
     "current_multipliers.corr: not a score of regime 'classic-2024' (v2_corr20, mmc)"),
    ('current = "fearindex"', 'pin = "short_nosuch"', "slots[0] (slot_a).pin: unknown model"),
    ('current = "fearindex"',
     'exclude = ["fearindex", "reputation", "jos_stack", "integration_test", "nb_example_model"]',
     "excludes every source model"),
    ('name = "slot_b"', 'name = "slot_a"', "listed twice"),
    ('models = ["fearindex"', 'models = ["short_fearindex"',
     "models[0]: 'short_fearindex': a source model may not be named short_"),
    ('models = ["fearindex"', 'models = ["reputation"', "models[1]: 'reputation' is listed twice"),
    ('[payout]', '[payouts]', "payouts: unknown key; did you mean 'payout'?"),
])
def test_bad_input_names_the_key(write_fleet, old, new, needle):
    assert old in BASE_FLEET
    path = write_fleet(BASE_FLEET.replace(old, new, 1))
    with pytest.raises(ConfigError) as e:
        load_fleet(path)
    assert needle in str(e.value)


def test_empty_slot_list(write_fleet):
    text = "slots = []\n" + BASE_FLEET.split("[[slots]]")[0]
    with pytest.raises(ConfigError, match="slots: the slot list is empty"):
        load_fleet(write_fleet(text))


def test_not_toml_and_missing_file(write_fleet, tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_fleet(write_fleet("models = [\n"))
    with pytest.raises(ConfigError, match="no such fleet file"):
        load_fleet(tmp_path / "nope.toml")


def test_snapshot_path_relative_to_fleet_file(write_fleet, tmp_path):
    (tmp_path / "s.csv").write_text("round,model,score,value\n1,a,corr,0.1\n")
    f = load_fleet(write_fleet(BASE_FLEET.replace("[data]\n", '[data]\nsnapshot = "s.csv"\n')))
    assert f.data.snapshot == str(tmp_path / "s.csv")
    with pytest.raises(ConfigError, match="data.snapshot: no such file"):
        load_fleet(write_fleet(BASE_FLEET.replace("[data]\n", '[data]\nsnapshot = "t.csv"\n')))


@pytest.mark.slow
def test_cli_exit_code_2_and_message_without_traceback(write_fleet, tmp_path):
    bad = write_fleet(BASE_FLEET.replace('"jos_stack"', '"no_such_model"'))
    r = run_cli("run", str(bad), "--json", str(tmp_path / "plan.json"))
    assert r.returncode == 2
    assert "models: unknown model 'no_such_model'" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "plan.json").exists()
    r = run_cli("validate", str(write_fleet(BASE_FLEET.replace("lookback", "x").replace('risk_measure = "MV"',
                                                                                        "lokback = 5"))))
    assert r.returncode == 2 and "did you mean 'lookback'" in r.stderr


@pytest.mark.slow
def test_validate_ok(write_fleet):
    r = run_cli("validate", str(write_fleet()))
    assert r.returncode == 0, r.stderr
    assert "ok: 5 models, 3 slots" in r.stdout


# --- one phase each: parse keeps what the file leaves out, resolve joins the API's facts ---------------------


def test_parse_keeps_what_the_file_leaves_out_and_resolve_fills_it(write_fleet):
    from dataclasses import replace

    from stakealloc.config import (
        DEFAULT_CLIP,
        DEFAULT_LEVERAGE,
        DEFAULT_PAYOUT_FACTOR,
        Facts,
        parse,
        resolve,
    )
    from stakealloc.regimes import PRESETS

    text = (BASE_FLEET.replace('regime = "classic-2024"', 'regime = "live"').replace("[data]\n",
                                                                                     '[data]\nsource = "numerai"\n')
            .replace("[portfolio]", "[portfolio]\nleverage = 3.0")
            .replace('columns = { v2_corr20 = "canon_corr", mmc = "canon_mmc" }',
                     'columns = { v2_corr20 = "canon_corr" }')) + '\n[staking]\nsystem = "fixed"\n'
    spec = parse(write_fleet(text))
    assert spec.payout.live and spec.payout.regime is None and spec.portfolio.leverage == 3.0
    assert spec.payout.payout_factor is None and spec.payout.clip is None and spec.solver.objective is not None
    with pytest.raises(ConfigError, match='payout.regime: "live" takes the open round'):
        resolve(spec)
    # the API states a single-combination regime: the file's leverage conflicts with it, named
    single = replace(PRESETS["classic-2024"], origin="api", round=1300)
    with pytest.raises(ConfigError, match="portfolio.leverage: 3 is not possible in the live regime of round 1300"):
        resolve(spec, Facts(regime=single))
    # a regime with a choice of multipliers: the file's leverage stands; factor and clip fall back once
    choice = replace(PRESETS["classic-2023"], origin="api", round=1300)
    fleet = resolve(spec, Facts(regime=choice))
    assert fleet.portfolio.leverage == 3.0 and fleet.payout.regime is choice
    assert fleet.payout.factors == (DEFAULT_PAYOUT_FACTOR,) * 2 and fleet.payout.clip_value == DEFAULT_CLIP
    # without a leverage in the file: the default; a clip the rules state wins over the file's
    spec2 = replace(spec, portfolio=replace(spec.portfolio, leverage=None), payout=replace(spec.payout, clip=0.2))
    assert resolve(spec2, Facts(regime=choice)).portfolio.leverage == DEFAULT_LEVERAGE
    assert resolve(spec2, Facts(regime=choice)).payout.clip_value == 0.2
    stated = replace(choice, clip=0.1)
    assert resolve(spec2, Facts(regime=stated)).payout.clip_value == 0.1


@pytest.mark.parametrize("codependence", ["gerber1", "gerber2", "distance"])
def test_riskfolio_codependence_without_riskfolio_names_the_key_and_the_extra(write_fleet, monkeypatch, codependence):
    """riskfolio-lib is an optional extra: where it is not installed, the codependences it computes are bad input
    (exit 2) naming the key and the install command; the others need nothing of it."""
    import sys

    from stakealloc.config import parse
    from stakealloc.errors import ConfigError

    monkeypatch.setitem(sys.modules, "riskfolio", None)  # as if not installed: its import fails
    text = BASE_FLEET.replace("[portfolio]", f'[portfolio]\ncodependence = "{codependence}"')
    with pytest.raises(ConfigError) as e:
        parse(write_fleet(text))
    assert str(e.value).startswith("portfolio.codependence:") and 'pip install "stakealloc[riskfolio]"' in str(e.value)
    assert parse(write_fleet(BASE_FLEET.replace("[portfolio]", '[portfolio]\ncodependence = "spearman"')))


def test_lookback_below_min_rounds_is_refused_naming_both_keys(write_fleet):
    """Such a window makes no model eligible: the backtest and sweep used to hold `current` at every decision and
    report it under the strategies' labels."""
    from stakealloc.api import load_fleet
    from stakealloc.config import parse

    with pytest.raises(ConfigError, match=r"portfolio.lookback: 50 rounds cannot hold portfolio.min_rounds = 60"):
        parse(write_fleet(BASE_FLEET.replace("[portfolio]", "[portfolio]\nlookback = 50")))
    fleet = load_fleet(write_fleet())
    with pytest.raises(ConfigError, match=r"^lookback: 30 rounds cannot hold portfolio.min_rounds = 60"):
        fleet.with_overrides(lookback=30)


def test_sweep_lookbacks_below_min_rounds_are_refused(write_fleet, tmp_path):
    from stakealloc import sweep
    from stakealloc.api import load_fleet

    fleet = load_fleet(write_fleet())
    with pytest.raises(ConfigError, match=r"^lookbacks: 40 rounds cannot hold") as e:
        sweep.run(fleet, None, {}, tmp_path / "s", measures=["MV"], lookbacks=[100, 40], linkages=["single"],
                  objectives=["exposure"], step=10, lag=None)
    assert e.value.key == "lookbacks" and not (tmp_path / "s").exists()


def test_overrides_accept_what_the_file_accepts_and_refuse_the_rest(write_fleet):
    from stakealloc.api import load_fleet
    from stakealloc.config import parse_risk_measure
    from stakealloc.types import Objective, RiskMeasure

    fleet = load_fleet(write_fleet())
    f = fleet.with_overrides(risk_measure="MDD", objective="tracking", linkage="ward")
    assert f.portfolio.risk_measure is RiskMeasure.MDD and f.solver.objective is Objective.TRACKING
    assert f.portfolio.linkage == "ward" and f.spec.portfolio.risk_measure is RiskMeasure.MDD
    assert fleet.with_overrides(risk_measure="cvar").portfolio.risk_measure is RiskMeasure.CVaR  # any case
    assert parse_risk_measure("mdd", key="k") is RiskMeasure.MDD and parse_risk_measure("VOL", key="k").value == "vol"
    for kw, needle in [({"risk_measure": "MDDD"}, "risk_measure: unknown risk measure 'MDDD'"),
                       ({"objective": "expo"}, "objective: 'expo' is not one of exposure, tracking"),
                       ({"risk_measure": 3}, "risk_measure: must be a RiskMeasure or its code"),
                       ({"lookback": 2.5}, "lookback: must be a whole number"),
                       ({"linkage": "wards"}, "linkage: 'wards' is not one of")]:
        with pytest.raises(ConfigError, match=re.escape(needle)):
            fleet.with_overrides(**kw)


def test_a_close_name_in_models_is_named_as_such_not_suggested(write_fleet):
    """A typo in `models` used to come back as the "did you mean" of the correct name elsewhere."""
    text = BASE_FLEET.replace('"fearindex", "reputation"', '"fearindx", "reputation"')
    with pytest.raises(ConfigError, match=r"slots\[0\] \(slot_a\).current: unknown model 'fearindex': not in models; "
                                          r"models lists 'fearindx', which is close: is one of the two misspelt\?"):
        load_fleet(write_fleet(text))


def test_the_readme_lists_exactly_the_keys_the_parser_takes():
    """README's fleet-file listing names every key the parser accepts, and no other (commented keys count:
    they are the optional ones)."""
    import re

    from stakealloc import config

    text = (ROOT / "README.md").read_text()
    block = text.split("## The fleet file", 1)[1].split("```toml\n", 1)[1].split("\n```", 1)[0]
    listed: dict[str, set[str]] = {"": set()}
    section = ""
    for line in block.splitlines():
        head = re.match(r"^\[\[?(\w+)\]\]?", line)
        if head:
            section = head.group(1)
            listed[""].add(section)
            listed.setdefault(section, set())
            continue
        key = re.match(r"^(?:#\s*)?([a-z_]+)\s*=", line)
        if key:
            listed[section].add(key.group(1))
        listed[section] |= set(re.findall(r"\b([a-z_]+) = \[", line.split("#", 1)[1])) if "custom:" in line else set()
    declared = {section: set(keys) for section, keys in config.declared_keys().items()}
    assert listed == declared


def test_the_readme_listing_shows_the_declared_defaults():
    """Where a key has a default of its own (not "from the API or the rules", not "none"), the README's
    listing shows exactly that value: the listing is valid TOML and is read against the declarations."""
    import tomllib

    from stakealloc.config.keys import defaults
    from stakealloc.config.model import SECTIONS

    text = (ROOT / "README.md").read_text()
    block = text.split("## The fleet file", 1)[1].split("```toml\n", 1)[1].split("\n```", 1)[0]
    doc = tomllib.loads(block)
    compared = 0
    for section, cls in SECTIONS.items():
        table = doc[section][0] if section == "slots" else doc[section]
        for name, default in defaults(cls).items():
            if default is None or default == () or name not in table:
                continue
            shown = table[name]
            assert shown == (default.value if hasattr(default, "value") else default), f"{section}.{name}"
            compared += 1
    assert compared >= 20  # the listing shows most defaults; a parse that found none would pass vacuously


def test_one_declaration_drives_reading_allowed_keys_and_defaults():
    """A new key is one `key(...)` field: the generic reader takes it by its kind, refuses a neighbour with a
    did-you-mean, and yields the declared default where the table is silent."""
    from dataclasses import dataclass

    from stakealloc.config.keys import Choice, Number, Whole, declared, defaults, key, read_section

    @dataclass(frozen=True)
    class Toy:
        window: int = key(Whole(lo=2, hi=9), "rounds", 4)
        scale: float = key(Number(lo=0.0, lo_open=True), "NMR", 1.5)
        measure: RiskMeasure = key(Choice(RiskMeasure), "risk measure", RiskMeasure.MV)
        note: str = "not a key"

    assert tuple(declared(Toy)) == ("window", "scale", "measure")
    assert defaults(Toy) == {"window": 4, "scale": 1.5, "measure": RiskMeasure.MV}
    assert Toy(**read_section({}, Toy, "toy")) == Toy()
    assert Toy(**read_section({"window": 9, "measure": "CVaR"}, Toy, "toy")) == Toy(9, 1.5, RiskMeasure.CVaR)
    with pytest.raises(ConfigError, match=r"toy\.windw: unknown key; did you mean 'window'\?"):
        read_section({"windw": 3}, Toy, "toy")
    with pytest.raises(ConfigError, match=r"toy\.note: unknown key"):
        read_section({"note": "x"}, Toy, "toy")
    with pytest.raises(ConfigError, match=r"toy\.window: must be ≤ 9, got 10"):
        read_section({"window": 10}, Toy, "toy")
    with pytest.raises(ConfigError, match=r"toy\.scale: must be > 0, got 0"):
        read_section({"scale": 0}, Toy, "toy")
    with pytest.raises(ConfigError, match=r"toy\.measure: 'cvar' is not one of .*did you mean 'CVaR'\?"):
        read_section({"measure": "cvar"}, Toy, "toy")
