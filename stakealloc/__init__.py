"""stakealloc: plan which model each Numerai staking slot submits, long or short."""

__version__ = "0.1.0"
