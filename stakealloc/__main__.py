"""`python -m stakealloc`: the same as the `stakealloc` console script."""

from .cli import run_main

run_main()
