"""Continual-learning metrics from the accuracy matrix (GEM, Lopez-Paz & Ranzato 2017;
forgetting as in Chaudhry et al. 2018).

R[i][j] = accuracy on task j after training task i (rows may stop early: a partial matrix after
task T has T+1 rows). ``None`` marks a value not measured; it is skipped. Pure Python, no torch.
"""
from __future__ import annotations

from typing import Sequence


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _at(R: Sequence[Sequence[float | None]], i: int, j: int) -> float | None:
    if 0 <= i < len(R) and 0 <= j < len(R[i]):
        return R[i][j]
    return None


def continual_metrics(
    R: Sequence[Sequence[float | None]], baseline: Sequence[float | None] | None = None
) -> dict:
    """ACC, BWT, FWT and per-task forgetting after the last row T of R.

    * acc  = mean_{j<=T} R[T][j]  — tasks learned so far (all tasks once the run is complete).
    * bwt  = mean_{j<T} (R[T][j] − R[j][j])  (negative = forgetting); None when T = 0.
    * fwt  = mean_{j>=1} (R[j−1][j] − baseline[j]) over every j whose R[j−1][j] is measured
      (so after task T it may already include task T+1); baseline = accuracy of the untrained model.
    * forgetting[j] = max_{l<T} R[l][j] − R[T][j] for j < T; mean_forgetting is their mean.
    """
    if not R:
        return {"acc": None, "bwt": None, "fwt": None, "forgetting": [], "mean_forgetting": None}
    T = len(R) - 1
    last = R[T]

    acc = _mean([v for j in range(T + 1) if (v := _at(R, T, j)) is not None])

    bwt_terms = []
    for j in range(T):
        a, d = _at(R, T, j), _at(R, j, j)
        if a is not None and d is not None:
            bwt_terms.append(a - d)

    fwt_terms = []
    base = list(baseline or [])
    for j in range(1, max(len(last), T + 1)):
        a = _at(R, j - 1, j)
        b = base[j] if j < len(base) else None
        if a is not None and b is not None:
            fwt_terms.append(a - b)

    forgetting: list[float | None] = []
    for j in range(T):
        past = [v for l in range(T) if (v := _at(R, l, j)) is not None]
        now = _at(R, T, j)
        forgetting.append(max(past) - now if past and now is not None else None)

    return {
        "acc": acc,
        "bwt": _mean(bwt_terms),
        "fwt": _mean(fwt_terms),
        "forgetting": forgetting,
        "mean_forgetting": _mean([f for f in forgetting if f is not None]),
    }


def loss_metrics(
    L: Sequence[Sequence[float | None]], baseline: Sequence[float | None] | None = None
) -> dict:
    """Task sequences of language models: L[i][j] = eval loss on task j after training task i.

    * mean_loss = mean_{j<=T} L[T][j]; mean_perplexity = mean of exp(L[T][j]).
    * forgetting[j] = L[T][j] − L[j][j] for j < T: how much the loss on an earlier task rose since
      it was learned (positive = forgotten); mean_forgetting is their mean (None when T = 0).
    * learned[j] = baseline[j] − L[j][j]: how much training task j lowered its loss.
    """
    import math

    if not L:
        return {"mean_loss": None, "mean_perplexity": None, "forgetting": [], "mean_forgetting": None,
                "learned": []}
    T = len(L) - 1
    now = [v for j in range(T + 1) if (v := _at(L, T, j)) is not None]
    forgetting: list[float | None] = []
    for j in range(T):
        a, d = _at(L, T, j), _at(L, j, j)
        forgetting.append(a - d if a is not None and d is not None else None)
    base = list(baseline or [])
    learned = [(base[j] - d) if j < len(base) and base[j] is not None and (d := _at(L, j, j)) is not None
               else None for j in range(T + 1)]
    return {
        "mean_loss": _mean(now),
        "mean_perplexity": _mean([math.exp(min(v, 50.0)) for v in now]),
        "forgetting": forgetting,
        "mean_forgetting": _mean([f for f in forgetting if f is not None]),
        "learned": learned,
    }
