"""The pipeline's checks between the stages."""

import pytest
from conftest import BASE_FLEET

from stakealloc.api import load_fleet
from stakealloc.errors import ConfigError
from stakealloc.pipeline import regime_table
from stakealloc.report import render


def test_unknown_model_in_a_snapshot_is_bad_input_with_a_hint(write_fleet, bundled):
    fleet = load_fleet(write_fleet(BASE_FLEET.replace('"jos_stack"', '"jos_stak"')))
    with pytest.raises(ConfigError, match="models: unknown model 'jos_stak'.*did you mean 'jos_stack'"):
        regime_table(fleet, bundled, "the snapshot")


def test_regime_table_keeps_only_payout_scores_under_the_regime_names(write_fleet, bundled):
    fleet = load_fleet(write_fleet())
    t = regime_table(fleet, bundled, "the snapshot")
    assert set(t["score"]) == {"v2_corr20", "mmc"} and len(t) == len(bundled)


def test_a_pin_to_a_dropped_model_names_the_slot_and_the_reason(write_fleet, bundled):
    """It used to carry the slot's whole stake against a target of 0, unmarked."""
    from stakealloc.pipeline import plan

    text = BASE_FLEET.replace('models = ["fearindex"', 'models = ["v52_lgbm_jasper20", "fearindex"').replace(
        'current = "fearindex"', 'current = "fearindex"\npin = "v52_lgbm_jasper20"')
    with pytest.raises(ConfigError, match=r"slots \(slot_a\).pin: 'v52_lgbm_jasper20' has no weight in this window: "
                                          r"only 44 scored rounds in the window, min_rounds = 60"):
        plan(load_fleet(write_fleet(text)), bundled, origin="bundled")
    pinned = BASE_FLEET.replace('current = "fearindex"', 'current = "fearindex"\npin = "fearindex"')
    ok = load_fleet(write_fleet(pinned))
    p = plan(ok, bundled, origin="bundled")
    assert [s.pinned for s in p.slots] == [True, False, False] and p.slots[0].label == "fearindex"
    assert "(pinned)" in render(p)


def test_a_lookback_beyond_the_data_is_noted(write_fleet, bundled):
    from stakealloc.pipeline import plan

    f = load_fleet(write_fleet(BASE_FLEET.replace("[portfolio]", "[portfolio]\nlookback = 1000")))
    p = plan(f, bundled, origin="bundled")
    assert any(n.startswith("lookback = 1000: the data holds only 335 resolved rounds") for n in p.notes)
