"""Numerical tolerances, named once. Amounts are NMR unless stated."""

ROUNDING = 1e-12  # two values computed the same way that differ by less are equal (moves, multipliers)
IMPROVEMENT = 1e-9  # a plan counts as better than another only by more than this: their objectives are
# summed in different orders, and a tie must fall to the stated tie rule, not to the last bits
SUM_TO_ONE = 1e-9  # weights, and leverages that must agree, may differ by this from their stated value
CAPACITY_SLACK = 1e-6  # targets above the slots' capacity by less than this are reachable (rounding)
