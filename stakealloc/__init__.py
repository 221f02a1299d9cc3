"""stakealloc: plan which model each Numerai staking slot submits, long or short.

The Python API (`stakealloc.api`, one function a command): `load_fleet`, `load_scores`, `plan`, `assign`,
`weights`, `backtest`, `validate`, `fetch` and `api.sweep`; the records they return (`Fleet`, `FleetSpec`,
`ScoreData`, `Plan`, `Validation`, `SweepResult`, `BacktestResult`) and `RiskMeasure`, imported on first use
so that `import stakealloc` stays light; `stakealloc.report` renders each record as the CLI prints it.
"""

import importlib

__version__ = "0.1.0"

__all__ = ["__version__", "load_fleet", "load_scores", "plan", "assign", "weights", "backtest", "validate", "fetch",
           "RiskMeasure", "Fleet", "FleetSpec", "ScoreData", "Plan", "Validation", "SweepResult", "BacktestResult"]

# `sweep` is `stakealloc.api.sweep`: here the name is the module `stakealloc.sweep`'s
_WHERE = {"load_fleet": "api", "load_scores": "api", "plan": "api", "assign": "api", "weights": "api",
          "backtest": "api", "validate": "api", "fetch": "api", "RiskMeasure": "types", "Fleet": "config",
          "FleetSpec": "config", "ScoreData": "scores", "Plan": "records", "Validation": "records",
          "SweepResult": "records", "BacktestResult": "records"}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'stakealloc' has no attribute {name!r}")
