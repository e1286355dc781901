"""Metric maths of the evaluation protocol (METHODS §5): top-k accuracy, harmonic mean, seed statistics.

Pure functions on numpy arrays or torch tensors. torch is not imported here: tensors are recognised by their
`detach` method, so the report stages can use this module without paying for a torch import.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def _to_numpy(values: Any) -> np.ndarray:
    """Copy a tensor (possibly on a GPU, possibly bfloat16, which numpy lacks) or an array-like to numpy."""
    if hasattr(values, "detach"):
        values = values.detach().cpu()
        if values.is_floating_point():
            values = values.double()
    return np.asarray(values)


def _check_topk_inputs(scores: np.ndarray, labels: np.ndarray) -> None:
    """Reject inputs that would otherwise yield a plausible-looking but meaningless accuracy."""
    if scores.ndim != 2 or scores.shape[0] == 0:
        raise ValueError(f"scores must have shape (N, K) with N > 0, got {scores.shape}")
    num_samples, num_classes = scores.shape
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class ids, got dtype {labels.dtype}")
    if labels.shape != (num_samples,):
        raise ValueError(f"labels must have shape ({num_samples},), got {labels.shape}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {labels.min()}..{labels.max()}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity")


def topk_accuracy(scores: Any, labels: Any, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Percent of samples whose label is among the `k` highest scores, for each `k` in `ks`.

    `scores` is `(N, K)` (any monotone score: logits or summed view probabilities), `labels` is `(N,)` with
    ids in `0..K-1`. The result is keyed by the requested `k`; a `k` above `K` is clamped to `K` (so it is
    100%), because a 3-way novel split still has to fill the table's top-5 column.

    Ties are broken by class index, lower first, as a stable sort would: a sample counts as correct at `k` if
    fewer than `k` classes score strictly higher than its label, or equally high with a lower index. This
    makes the number independent of the sorting routine, and never credits a tie the label did not win.
    Non-finite scores are rejected, because NaN compares false and would rank the label first.
    """
    if any(k < 1 for k in ks):
        raise ValueError(f"every k must be at least 1, got {tuple(ks)}")
    rank = label_ranks(scores, labels)
    # rank is at most K-1, so a k above K counts every sample: the clamp to K needs no extra step.
    return {k: float(100.0 * np.mean(rank < k)) for k in ks}


def label_ranks(scores: Any, labels: Any) -> np.ndarray:
    """Per sample, the number of classes ranked above its label (0: top-1), ties broken as `topk_accuracy` says.

    The per-video outcomes the bootstrap resamples come from here, so they agree with the accuracies exactly.
    """
    scores = _to_numpy(scores).astype(np.float64)
    labels = _to_numpy(labels)
    _check_topk_inputs(scores, labels)
    num_samples, num_classes = scores.shape
    true_scores = scores[np.arange(num_samples), labels][:, None]
    lower_index = np.arange(num_classes)[None, :] < labels[:, None]
    return (scores > true_scores).sum(axis=1) + ((scores == true_scores) & lower_index).sum(axis=1)


def harmonic_mean(base: float, novel: float) -> float:
    """`2·B·N/(B+N)`, the paper's base-to-novel summary; 0 when both are 0 instead of dividing by zero."""
    if base < 0 or novel < 0:
        raise ValueError(f"accuracies must be non-negative, got base={base}, novel={novel}")
    if base + novel == 0:
        return 0.0
    return 2.0 * base * novel / (base + novel)


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) of per-seed results.

    The seeds are a sample of the possible few-shot training subsets, and the spread we want to report is
    that of the population they come from, so the unbiased-variance form is used (pandas' default, not
    numpy's). A single run has no spread to estimate; its std is reported as 0.0 rather than NaN so that
    tables stay numeric, and the seed count is kept alongside to tell the two cases apart.
    """
    array = np.asarray(list(values), dtype=np.float64)
    if array.size == 0:
        raise ValueError("mean_std needs at least one value")
    std = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return float(array.mean()), std
