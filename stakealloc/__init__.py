"""stakealloc: plan which model each Numerai staking slot submits, long or short.

The Python API (`stakealloc.api`): `load_fleet`, `load_scores`, `plan`, `run_backtest` and `RiskMeasure`,
imported on first use so that `import stakealloc` stays light. (`backtest` is the name of the module, so
the function is `run_backtest`.)
"""

__version__ = "0.1.0"

__all__ = ["__version__", "load_fleet", "load_scores", "plan", "run_backtest", "RiskMeasure"]


def __getattr__(name: str):
    if name in ("load_fleet", "load_scores", "plan", "run_backtest"):
        from . import api

        return getattr(api, name)
    if name == "RiskMeasure":
        from .types import RiskMeasure

        return RiskMeasure
    raise AttributeError(f"module 'stakealloc' has no attribute {name!r}")
