"""Hierarchical Risk Parity weights over instruments (per-round score streams).

The clustering, seriation and recursive bisection follow riskfolio-lib's
`HCPortfolio.optimization(model="HRP")` step by step, and every risk figure is
riskfolio's definition computed natively (`risk.py`), so on well-posed inputs
the weights equal riskfolio's (tests: ≤ 1e-9; EVaR/EDaR ≤ 1e-6, riskfolio's
own values being a numerical solve). riskfolio is imported only for the
gerber1/gerber2/distance codependences and as the reference in tests. Beyond that:

* each instrument's risk is computed once, not once per tree level, and the
  clustering can be shared by several measures on one window (`build_tree`);
* a risk that is ≤ 0 (a never-losing series under a drawdown measure has MDD = 0;
  a series whose worst 5 % is still a gain has CVaR < 0) would give infinite or
  negative inverse-risk weights. Such a risk is *floored* at the smallest
  positive risk of any instrument in the window, i.e. the instrument is treated
  as exactly as risky as the least risky one whose risk can be measured. The
  floor is reported in `HrpResult.notes`. If no instrument has a positive
  risk, the weights are equal (also reported).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import OptimizationError
from .risk import measure
from .tolerance import SUM_TO_ONE
from .types import RiskMeasure

DRAWDOWN_MEASURES = frozenset({RiskMeasure.MDD, RiskMeasure.ADD, RiskMeasure.DaR, RiskMeasure.CDaR,
                               RiskMeasure.EDaR, RiskMeasure.UCI})


@dataclass(frozen=True)
class HrpResult:
    """Weights (index = instrument names, same order as the input columns), ≥ 0, summing to 1."""

    weights: pd.Series
    order: tuple[str, ...]  # seriation (leaf) order
    linkage: np.ndarray  # scipy linkage matrix, (n-1) × 4; empty for one instrument
    notes: tuple[str, ...]  # treatments applied (floors, equal weights), for the report


def _codependence(returns: pd.DataFrame, codependence: str) -> tuple[pd.DataFrame, bool]:
    """Codependence matrix and whether its distance is the 'signed' sqrt((1-ρ)/2) form."""
    if codependence in ("pearson", "spearman", "kendall"):
        return returns.corr(method=codependence).astype(float), True
    if codependence in ("abs_pearson", "abs_spearman", "abs_kendall"):
        return np.abs(returns.corr(method=codependence[4:])).astype(float), False
    from .config import check_riskfolio

    check_riskfolio(codependence)  # the file was checked; an API caller may not have been
    from riskfolio.src import AuxFunctions as af

    if codependence in ("gerber1", "gerber2"):
        from riskfolio.src import GerberStatistic as gs

        fn = gs.gerber_cov_stat1 if codependence == "gerber1" else gs.gerber_cov_stat2
        return af.cov2corr(fn(returns, threshold=0.5)).astype(float), True
    if codependence == "distance":
        return af.dcorr_matrix(returns).astype(float), False
    raise OptimizationError(f"portfolio.codependence: {codependence!r} is not supported")


def cluster(returns: pd.DataFrame, *, codependence: str = "pearson", linkage: str = "single",
            leaf_order: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(linkage matrix, seriation order as column positions), as riskfolio computes them."""
    from scipy.cluster import hierarchy as hr
    from scipy.spatial.distance import squareform

    codep, signed = _codependence(returns, codependence)
    c = codep.to_numpy()
    d = np.sqrt(np.clip((1 - c) / 2 if signed else (1 - c), a_min=0.0, a_max=1.0))
    if not np.all(np.isfinite(d)):
        bad = [returns.columns[i] for i in np.nonzero(~np.isfinite(d).all(axis=0))[0]]
        raise OptimizationError(f"codependence is undefined for {', '.join(map(str, bad[:5]))} (a constant series?)")
    y = squareform(d, checks=False)
    # linkage(optimal_ordering=True) is linkage, then optimal_leaf_ordering(Z, y); done here without scipy's
    # repeated validation of the tree (a third of the cost of a 24-instrument HRP), same result (tested).
    Z = hr.linkage(y, method=linkage)
    if leaf_order:
        try:
            from scipy.cluster._optimal_leaf_ordering import (
                optimal_leaf_ordering as _olo,
            )
        except ImportError:  # a scipy without the private module: the public function, same result
            Z = hr.optimal_leaf_ordering(Z, y)
        else:
            Z = _olo(Z, np.ascontiguousarray(squareform(y), dtype=np.float64))
    return Z, _leaves(Z)


def _leaves(Z: np.ndarray) -> np.ndarray:
    """The dendrogram's leaves left to right (scipy's `leaves_list`, without its validation)."""
    n = Z.shape[0] + 1
    out: list[int] = []
    stack = [2 * n - 2]
    while stack:
        node = stack.pop()
        if node < n:
            out.append(node)
        else:
            left, right = int(Z[node - n, 0]), int(Z[node - n, 1])
            stack += [right, left]
    return np.array(out)


class _Risk:
    """riskfolio's risk of a weighted sub-portfolio as its HRP bisection uses it, computed natively
    (`risk.py`): standard deviation for MV/vol alone, variance for an MV cluster."""

    def __init__(self, X: np.ndarray, cov: np.ndarray, rm: RiskMeasure, alpha: float):
        self.X, self.cov, self.rm, self.alpha = X, cov, rm, alpha

    def naive(self, i: int) -> float:
        """Risk of instrument i alone (what the inverse-risk weights invert; std for MV)."""
        if self.rm in (RiskMeasure.MV, RiskMeasure.vol):
            return float(np.sqrt(self.cov[i, i]))
        return measure(self.X[:, i], self.rm.value, self.alpha)

    def cluster(self, idx: list[int], w: np.ndarray) -> float:
        """Risk of the cluster `idx` held with weights `w` (variance for MV, as riskfolio)."""
        if self.rm in (RiskMeasure.MV, RiskMeasure.vol):
            wv = w.ravel()
            v = float(wv @ self.cov[idx][:, idx] @ wv)
            return float(np.power(np.sqrt(v), 2)) if self.rm is RiskMeasure.MV else float(np.sqrt(v))
        return measure(self.X[:, idx] @ w.ravel(), self.rm.value, self.alpha)


@dataclass(frozen=True)
class Tree:
    """What HRP computes once per window whatever the risk measure: the clustering and the covariance."""

    linkage: np.ndarray
    order: np.ndarray  # seriation order, column positions
    cov: np.ndarray


def build_tree(returns: pd.DataFrame, *, codependence: str = "pearson", linkage: str = "single",
         leaf_order: bool = True) -> Tree:
    """The clustering of `returns` (rounds × instruments) and its covariance, for `hrp(..., tree=)`."""
    # numpy's covariance, bit for bit pandas' (and so riskfolio's) on finite data, at a third of the cost
    cov = np.atleast_2d(np.cov(returns.to_numpy(dtype=float), rowvar=False))
    if returns.shape[1] < 2:
        return Tree(np.empty((0, 4)), np.arange(returns.shape[1]), cov)
    Z, order = cluster(returns, codependence=codependence, linkage=linkage, leaf_order=leaf_order)
    return Tree(Z, order, cov)


def hrp(returns: pd.DataFrame, rm: RiskMeasure, *, codependence: str = "pearson", linkage: str = "single",
        leaf_order: bool = True, alpha: float = 0.05, tree: Tree | None = None) -> HrpResult:
    """HRP weights of the columns of `returns` (rounds × instruments, per-round scores, no NaN).

    `tree` is this window's clustering from `build_tree()`, when several measures share it."""
    rm = RiskMeasure(rm)
    names = [str(c) for c in returns.columns]
    n = len(names)
    if n == 0:
        raise OptimizationError("no eligible instruments to weight")
    if len(set(names)) != n:
        raise OptimizationError("instrument names are not unique")
    X = returns.to_numpy(dtype=float)
    if not np.all(np.isfinite(X)):
        raise OptimizationError("HRP input contains NaN or infinite scores")
    if n == 1:
        return HrpResult(pd.Series([1.0], index=names, name="weight"), tuple(names), np.empty((0, 4)), ())
    if X.shape[0] < 2:
        raise OptimizationError(f"HRP needs at least 2 rounds, got {X.shape[0]}")

    if tree is None:
        tree = build_tree(returns, codependence=codependence, linkage=linkage, leaf_order=leaf_order)
    Z, order, cov = tree.linkage, tree.order, tree.cov
    risk = _Risk(X, cov, rm, alpha)
    notes: list[str] = []

    single = np.array([risk.naive(i) for i in range(n)])
    if not np.all(np.isfinite(single)):
        bad = [names[i] for i in range(n) if not np.isfinite(single[i])]
        raise OptimizationError(f"{rm.value} is not finite for {', '.join(bad)}")
    positive = single[single > 0]
    if positive.size == 0:
        notes.append(f"no instrument has a positive {rm.value} in the window; equal weights")
        w = pd.Series(1.0 / n, index=names, name="weight")
        return HrpResult(w, tuple(names[i] for i in order), Z, tuple(notes))
    floor = float(positive.min())
    least = names[int(np.where(single == floor)[0][0])]
    for i in range(n):
        if single[i] <= 0:
            why = ("never lost in the window" if rm in DRAWDOWN_MEASURES
                   else "its risk is a gain, not a loss")
            notes.append(f"{rm.value} = {single[i]:.6g} for {names[i]} ({why}); floored at {floor:.6g}, "
                         f"the smallest positive {rm.value} ({least})")
            single[i] = floor
    floored_cluster = False
    cluster_floor = floor ** 2 if rm is RiskMeasure.MV else floor

    inverse = 1 / np.power(single, 2) if rm is RiskMeasure.MV else 1 / single

    def naive_weights(idx: list[int]) -> np.ndarray:
        inv = inverse[idx].reshape(-1, 1)
        return inv * (1 / inv.sum())

    weights = np.ones(n)
    items = [list(order)]
    while items:
        items = [i[j:k] for i in items for j, k in ((0, len(i) // 2), (len(i) // 2, len(i))) if len(i) > 1]
        for p in range(0, len(items), 2):
            left, right = items[p], items[p + 1]
            lr = risk.cluster(left, naive_weights(left))
            rr = risk.cluster(right, naive_weights(right))
            if not (np.isfinite(lr) and np.isfinite(rr)):
                raise OptimizationError(f"{rm.value} of a cluster is not finite")
            if lr <= 0 or rr <= 0:
                floored_cluster = True
                lr, rr = max(lr, cluster_floor), max(rr, cluster_floor)
            a1 = 1 - lr / (lr + rr)
            weights[left] *= a1
            weights[right] *= 1 - a1
    if floored_cluster:
        notes.append(f"a cluster's {rm.value} was ≤ 0; floored at {cluster_floor:.6g}")
    w = pd.Series(_validated(weights, names), index=names, name="weight")
    return HrpResult(w, tuple(names[i] for i in order), Z, tuple(notes))


def _validated(v: np.ndarray, labels: list[str]) -> np.ndarray:
    """Weights finite, ≥ 0 and summing to 1 (to SUM_TO_ONE), the rounding renormalised; else OptimizationError."""
    if not np.all(np.isfinite(v)):
        raise OptimizationError(f"HRP produced non-finite weights for {', '.join(np.array(labels)[~np.isfinite(v)])}")
    if np.any(v < 0):
        raise OptimizationError(f"HRP produced negative weights for {', '.join(np.array(labels)[v < 0])}")
    s = v.sum()
    if abs(s - 1) > SUM_TO_ONE:
        raise OptimizationError(f"HRP weights sum to {s:.12g}, not 1")
    return v / s


def prune(w: pd.Series, min_weight: float) -> tuple[pd.Series, tuple[str, ...]]:
    """Zero weights below `min_weight` and renormalise; returns (weights, pruned names)."""
    if min_weight <= 0:
        return w, ()
    small = w < min_weight
    if small.all():
        raise OptimizationError(f"portfolio.min_weight = {min_weight:g} prunes every instrument "
                                f"(largest weight {w.max():.4g})")
    kept = w.where(~small, 0.0)
    return kept / kept.sum(), tuple(w.index[small])


def riskfolio_hrp(returns: pd.DataFrame, rm: RiskMeasure, *, codependence: str = "pearson", linkage: str = "single",
                  leaf_order: bool = True, alpha: float = 0.05) -> pd.Series:
    """riskfolio-lib's own `HCPortfolio` HRP, unvalidated: the reference for tests and benchmarks."""
    import riskfolio as rp

    port = rp.HCPortfolio(returns=returns, alpha=alpha)
    w = port.optimization(model="HRP", codependence=codependence, rm=RiskMeasure(rm).value, rf=0,
                          linkage=linkage, leaf_order=leaf_order)
    return w["weights"].rename("weight")
