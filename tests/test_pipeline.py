"""The pipeline's checks between the stages."""

import pytest
from conftest import BASE_FLEET

from stakealloc.config import load_fleet
from stakealloc.errors import ConfigError
from stakealloc.pipeline import regime_table


def test_unknown_model_in_a_snapshot_is_bad_input_with_a_hint(write_fleet, bundled):
    fleet = load_fleet(write_fleet(BASE_FLEET.replace('"jos_stack"', '"jos_stak"')))
    with pytest.raises(ConfigError, match="models: unknown model 'jos_stak'.*did you mean 'jos_stack'"):
        regime_table(fleet, bundled, "the snapshot")


def test_regime_table_keeps_only_payout_scores_under_the_regime_names(write_fleet, bundled):
    fleet = load_fleet(write_fleet())
    t = regime_table(fleet, bundled, "the snapshot")
    assert set(t["score"]) == {"v2_corr20", "mmc"} and len(t) == len(bundled)
