"""Risk of one per-round score series, natively (numpy), for every HRP risk measure.

Each function reproduces riskfolio-lib's own definition (`RiskFunctions`, `OwaWeights`, version 7.4)
step by step, with rf = 0 and beta = alpha; tests compare them with riskfolio on real windows. EVaR and
EDaR solve the one-dimensional convex problem of the entropic measure directly,

    EVaR_α(a) = min over z > 0 of  z · (log mean(exp(−a / z)) − log α),

by bounded Brent search on log z (riskfolio runs SLSQP, so the two agree to its tolerance, not bit for bit).
Drawdowns are of the uncompounded cumulative scores started at 1, as riskfolio's `*_Abs` measures.

Input `a`: shape (T,), per-round scores of one instrument or weighted cluster, finite. Output: a float in
score units (per round), or in score units of the cumulative sum for drawdown measures.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


def _tail_index(T: int, alpha: float) -> int:
    return int(np.ceil(alpha * T) - 1)


def mad(a: np.ndarray) -> float:
    return float(np.mean(np.abs(a - a.mean())))


def semi_deviation(a: np.ndarray) -> float:
    d = a.mean() - a
    return float(np.sqrt(np.sum(d[d >= 0] ** 2) / (len(a) - 1)))


def kurtosis(a: np.ndarray) -> float:
    d = a.mean() - a
    return float(np.sqrt(np.sum(d ** 4) / len(a)))


def semi_kurtosis(a: np.ndarray) -> float:
    d = a.mean() - a
    return float(np.sqrt(np.sum(d[d >= 0] ** 4) / len(a)))


def lpm(a: np.ndarray, p: int) -> float:
    """Lower partial moment of order p (1: Omega's, 2: Sortino's) below 0."""
    d = -a
    n = len(a) - 1 if p == 2 else len(a)
    return float((np.sum(d[d >= 0] ** p) / n) ** (1 / p))


def var(a: np.ndarray, alpha: float) -> float:
    s = np.sort(a)
    return float(-s[_tail_index(len(s), alpha)])


def cvar(a: np.ndarray, alpha: float) -> float:
    s = np.sort(a)
    k = _tail_index(len(s), alpha)
    return float(-s[k] - np.sum(s[: k + 1] - s[k]) / (alpha * len(s)))


def worst(a: np.ndarray) -> float:
    return float(-a.min())


@lru_cache(maxsize=64)
def _owa_cvar(T: int, alpha: float) -> np.ndarray:
    k = _tail_index(T, alpha)
    w = np.zeros(T)
    w[:k] = -1 / (T * alpha)
    w[k] = -1 - np.sum(w[:k])
    return w


@lru_cache(maxsize=64)
def _owa_tail_gini(T: int, alpha: float, a_sim: int = 100) -> np.ndarray:
    alphas = np.linspace(alpha, 0.0001, a_sim)[::-1]
    ws = [(alphas[1] - 0) * alphas[0] / alphas[-1] ** 2]
    for i in range(1, len(alphas) - 1):
        ws.append((alphas[i + 1] - alphas[i - 1]) * alphas[i] / alphas[-1] ** 2)
    ws.append((alphas[-1] - alphas[-2]) / alphas[-1])
    w = 0
    for al, wi in zip(alphas, ws):
        w = w + _owa_cvar(T, al) * wi
    return w


def tail_gini(a: np.ndarray, alpha: float) -> float:
    return float(_owa_tail_gini(len(a), alpha) @ np.sort(a))


def var_range(a: np.ndarray, alpha: float) -> float:
    return var(a, alpha) + var(-a, alpha)


def cvar_range(a: np.ndarray, alpha: float) -> float:
    T = len(a)
    return float((_owa_cvar(T, alpha) - _owa_cvar(T, alpha)[::-1]) @ np.sort(a))


def tail_gini_range(a: np.ndarray, alpha: float) -> float:
    T = len(a)
    return float((_owa_tail_gini(T, alpha) - _owa_tail_gini(T, alpha)[::-1]) @ np.sort(a))


def _entropic(z: float, a: np.ndarray, alpha: float) -> float:
    v = -a / z
    m = v.max()
    return float(z * (m + math.log(np.mean(np.exp(v - m))) + math.log(1 / alpha)))


def evar(a: np.ndarray, alpha: float) -> float:
    """Entropic VaR: min over z > 0 of the entropic risk; a convex problem in z, solved on log z."""
    from scipy.optimize import minimize_scalar

    scale = float(np.max(np.abs(a - a.mean())))
    if scale == 0.0:
        return float(-a.mean())  # constant: every z gives −a + z·log(1/α) ≥ −a, the infimum as z → 0
    lo, hi = math.log(scale) - 40.0, math.log(scale) + 40.0
    res = minimize_scalar(lambda s: _entropic(math.exp(s), a, alpha), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-12, "maxiter": 500})
    return min(float(res.fun), _entropic(math.exp(lo), a, alpha))


def _drawdowns(a: np.ndarray) -> np.ndarray:
    """Drawdown after each round (≥ 0) of the cumulative scores started at 1, as riskfolio's *_Abs."""
    nav = np.cumsum(np.insert(a, 0, 1.0))
    return np.maximum.accumulate(nav) - nav


def max_drawdown(a: np.ndarray) -> float:
    return float(max(_drawdowns(a).max(), 0.0))


def average_drawdown(a: np.ndarray) -> float:
    dd = _drawdowns(a)
    return float(np.sum(dd[dd > 0]) / (len(dd) - 1))


def ulcer_index(a: np.ndarray) -> float:
    dd = _drawdowns(a)
    return float(np.sqrt(np.sum(dd[dd > 0] ** 2) / (len(dd) - 1)))


def drawdown_at_risk(a: np.ndarray, alpha: float) -> float:
    return var(-_drawdowns(a)[1:], alpha)


def conditional_drawdown_at_risk(a: np.ndarray, alpha: float) -> float:
    return cvar(-_drawdowns(a)[1:], alpha)


def entropic_drawdown_at_risk(a: np.ndarray, alpha: float) -> float:
    return evar(-_drawdowns(a)[1:], alpha)


#: risk measure code -> f(a, alpha); MV and vol are computed from the covariance by the caller.
MEASURES = {
    "KT": lambda a, al: kurtosis(a),
    "MAD": lambda a, al: mad(a),
    "MSV": lambda a, al: semi_deviation(a),
    "SKT": lambda a, al: semi_kurtosis(a),
    "FLPM": lambda a, al: lpm(a, 1),
    "SLPM": lambda a, al: lpm(a, 2),
    "VaR": var,
    "CVaR": cvar,
    "TG": tail_gini,
    "EVaR": evar,
    "WR": lambda a, al: worst(a),
    "VRG": var_range,
    "CVRG": cvar_range,
    "TGRG": tail_gini_range,
    "MDD": lambda a, al: max_drawdown(a),
    "ADD": lambda a, al: average_drawdown(a),
    "DaR": drawdown_at_risk,
    "CDaR": conditional_drawdown_at_risk,
    "EDaR": entropic_drawdown_at_risk,
    "UCI": lambda a, al: ulcer_index(a),
}


def measure(a: np.ndarray, code: str, alpha: float) -> float:
    """The risk `code` (a riskfolio rm code other than MV/vol) of the series `a`."""
    return MEASURES[code](np.asarray(a, dtype=float).ravel(), alpha)
