"""stakealloc: plan which model each Numerai staking slot submits, long or short.

The Python API (`stakealloc.api`): `load_fleet`, `load_scores`, `plan`, `backtest`, the records they return
(`Fleet`, `FleetSpec`, `ScoreData`, `Plan`, `BacktestResult`) and `RiskMeasure`, imported on first use so that
`import stakealloc` stays light.
"""

import importlib

__version__ = "0.1.0"

__all__ = ["__version__", "load_fleet", "load_scores", "plan", "backtest", "RiskMeasure", "Fleet", "FleetSpec",
           "ScoreData", "Plan", "BacktestResult"]

_WHERE = {"load_fleet": "api", "load_scores": "api", "plan": "api", "backtest": "api", "RiskMeasure": "types",
          "Fleet": "config", "FleetSpec": "config", "ScoreData": "scores", "Plan": "records",
          "BacktestResult": "walkforward"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'stakealloc' has no attribute {name!r}")
