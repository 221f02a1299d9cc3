"""Payout regimes: presets by displayName, custom regimes, and the API's round score configurations."""

import pytest

from stakealloc.errors import ApiError, ConfigError
from stakealloc.regimes import (
    PRESETS,
    ScoreConfig,
    ScoreSpec,
    custom_regime,
    regime_from_configs,
)


def cfg(name, lo, hi=None, *, default=None, clip=None, factor=None, payout=True, days=20):
    hi = lo if hi is None else hi
    return ScoreConfig(ScoreSpec(name, name, "1", days, 2, 1), payout, lo, hi, lo if default is None else default,
                       clip, factor)


def test_presets_name_the_displaynames_they_pay():
    assert PRESETS["classic-2023"].scores == ("v2_corr20", "tc") and len(PRESETS["classic-2023"].combinations) == 21
    assert PRESETS["classic-2023-r589"].scores == ("v2_corr20", "tc")
    assert PRESETS["classic-2024"].scores == ("v2_corr20", "mmc")
    assert PRESETS["classic-2024"].combinations == ((0.5, 2.0),) and PRESETS["classic-2024"].fixed_leverage == 2.5
    assert PRESETS["classic-2026"].combinations == ((0.75, 2.25),) and PRESETS["classic-2026"].clip == 0.05
    r1343 = PRESETS["classic-r1343"]
    assert r1343.scores == ("corr60", "mmc60") and r1343.combinations == ((3.0, 15.0),) and r1343.clip == 1.0
    assert r1343.payout_factors == (1.0, 1.0) and r1343.staking == "per-round"
    assert {n: r.staking for n, r in PRESETS.items() if r.staking == "per-round"} == {"classic-r1343": "per-round"}
    assert all(sp.resolve_days == (63 if n == "classic-r1343" else 23) for n, r in PRESETS.items() for sp in r.specs)
    assert all(sp.name is None and sp.version is None for r in PRESETS.values() for sp in r.specs)


def test_grid_includes_max_and_steps_from_min():
    assert cfg("a", 0.0, 1.0).allowed(0.5) == (0.0, 0.5, 1.0)
    assert cfg("a", 0.0, 1.0).allowed(0.75) == (0.0, 0.75, 1.0)  # max always included
    assert cfg("a", 0.25, 1.0).allowed(0.5) == (0.25, 0.75, 1.0)
    assert cfg("a", 2.0).allowed(0.5) == (2.0,)


def test_regime_from_configs_keeps_order_identity_factors_and_clip():
    r = regime_from_configs([cfg("canon_corr", 0, payout=False), cfg("v2_corr20", 0.75, factor=0.9, clip=0.1),
                             cfg("mmc", 2.25, clip=0.1)], 1300, step=0.5)
    assert r.scores == ("v2_corr20", "mmc") and r.combinations == ((0.75, 2.25),)
    assert r.payout_factors == (0.9, None) and r.factors(1.0) == (0.9, 1.0) and r.clip == 0.1
    assert r.origin == "api" and r.round == 1300 and r.single and r.fixed_leverage == 3.0
    assert [s.identity() for s in r.specs] == [{"displayName": "v2_corr20", "name": "v2_corr20", "version": "1"},
                                               {"displayName": "mmc", "name": "mmc", "version": "1"}]


def test_regime_from_configs_errors():
    with pytest.raises(ApiError, match="no payout score"):
        regime_from_configs([cfg("canon_corr", 0, payout=False)], 5, step=0.5)
    with pytest.raises(ApiError, match="different clipThresholds"):
        regime_from_configs([cfg("a", 1, clip=0.05), cfg("b", 1, clip=1.0)], 5, step=0.5)
    with pytest.raises(ConfigError, match="payout.multiplier_step: 0.01 gives 40401"):
        regime_from_configs([cfg("a", 0, 2), cfg("b", 0, 2)], 5, step=0.01)
    with pytest.raises(ApiError, match="listed twice"):
        regime_from_configs([cfg("a", 1), cfg("a", 2)], 5, step=0.5)


def test_custom_regime_takes_any_names_and_needs_a_paying_combination():
    r = custom_regime(["alpha", "mpc"], [[1, 0], [0, 2]])
    assert r.scores == ("alpha", "mpc") and r.origin == "custom" and r.zero_combination() is None
    with pytest.raises(ConfigError, match="no combination pays"):
        custom_regime(["alpha"], [[0]])
    with pytest.raises(ConfigError, match="is negative"):
        custom_regime(["alpha"], [[-1]])
