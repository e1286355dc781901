"""Metric maths against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vifi.metrics import harmonic_mean, mean_std, topk_accuracy

# Four samples, six classes. Expected ranks of the label (0 = top-1):
#   0: label 1 scores highest                                  -> rank 0
#   1: label 1 ties class 0, which has the lower index         -> rank 1 (top-1 miss, top-5 hit)
#   2: label 0 ties class 1, and wins the tie by index         -> rank 0
#   3: label 5 scores lowest of six                            -> rank 5 (top-5 miss)
SCORES = np.array(
    [
        [0.1, 0.9, 0.0, 0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0, 0.0, 0.0, 0.0],
        [0.5, 0.5, 0.0, 0.0, 0.0, 0.0],
        [0.6, 0.5, 0.4, 0.3, 0.2, 0.1],
    ]
)
LABELS = np.array([1, 1, 0, 5])


def test_topk_accuracy_hand_computed_with_ties() -> None:
    assert topk_accuracy(SCORES, LABELS) == {1: 50.0, 5: 75.0}


def test_topk_accuracy_ranks_all_k() -> None:
    result = topk_accuracy(SCORES, LABELS, ks=(1, 2, 6))
    assert result == {1: 50.0, 2: 75.0, 6: 100.0}


def test_topk_accuracy_accepts_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    scores = torch.tensor(SCORES, dtype=torch.bfloat16, requires_grad=True)
    assert topk_accuracy(scores, torch.tensor(LABELS)) == {1: 50.0, 5: 75.0}


def test_topk_accuracy_clamps_k_to_number_of_classes() -> None:
    scores = np.array([[0.2, 0.3, 0.5], [0.9, 0.05, 0.05]])
    labels = np.array([0, 2])
    # Both labels rank last (rank 2): top-1 is 0%, top-5 on a 3-way problem is top-3, so 100%.
    assert topk_accuracy(scores, labels, ks=(1, 5)) == {1: 0.0, 5: 100.0}


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        (SCORES, np.array([1, 1, 0, 6]), "labels must lie"),
        (SCORES, LABELS[:3], "labels must have shape"),
        (SCORES, LABELS.astype(float), "integer class ids"),
        (np.where(SCORES == 0.9, np.nan, SCORES), LABELS, "NaN"),
        (np.zeros((0, 3)), np.zeros(0, dtype=int), "shape"),
    ],
)
def test_topk_accuracy_rejects_bad_input(scores: np.ndarray, labels: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        topk_accuracy(scores, labels)


def test_harmonic_mean() -> None:
    assert harmonic_mean(80.0, 40.0) == pytest.approx(2 * 80 * 40 / 120)
    assert harmonic_mean(50.0, 50.0) == pytest.approx(50.0)
    assert harmonic_mean(70.0, 0.0) == 0.0
    assert harmonic_mean(0.0, 0.0) == 0.0
    with pytest.raises(ValueError):
        harmonic_mean(-1.0, 50.0)


def test_mean_std_uses_sample_std() -> None:
    mean, std = mean_std([80.0, 90.0, 100.0])
    assert mean == pytest.approx(90.0)
    assert std == pytest.approx(10.0)  # ddof=1; the population std would be 8.165
    assert mean_std([2.0, 4.0]) == pytest.approx((3.0, math.sqrt(2.0)))


def test_mean_std_single_and_empty() -> None:
    assert mean_std([42.5]) == (42.5, 0.0)
    with pytest.raises(ValueError):
        mean_std([])
