"""The temporal-order set (SSv2's role) defeats frame-order-blind models and not order-aware ones.

This is the property the demo relies on to mirror the paper's SSv2 gap: ViFi-CLIP averages per-frame features,
so a clip and its time reversal look the same to it, while a model that keeps time order (as EVL's temporal
modules do) separates them.
"""

import numpy as np
import pytest

from vifi.data.synthetic.world import TEMPORAL_PAIRS, ClassSpec, render_clip

FRAMES, HEIGHT, WIDTH = 16, 48, 64


def frame_features(clip: np.ndarray) -> np.ndarray:
    """Per-frame features: 6x8 average-pooled colour images, flattened, `(T, 144)`."""
    t, h, w, c = clip.shape
    pooled = clip.reshape(t, 6, h // 6, 8, w // 8, c).mean(axis=(2, 4))
    return pooled.reshape(t, -1).astype(np.float64)


def order_blind(clip: np.ndarray) -> np.ndarray:
    return frame_features(clip).mean(axis=0)


def order_aware(clip: np.ndarray) -> np.ndarray:
    f = frame_features(clip)
    return np.concatenate([f[: FRAMES // 2].mean(0), f[FRAMES // 2 :].mean(0)])


def nearest_centroid_accuracy(embed, train: list, test: list) -> float:
    """Fit class centroids on `train` [(clip, label)], return accuracy (%) on `test`."""
    feats = {label: np.stack([embed(c) for c, y in train if y == label]).mean(0) for label in (0, 1)}
    correct = 0
    for clip, label in test:
        x = embed(clip)
        pred = min(feats, key=lambda k: np.linalg.norm(x - feats[k]))
        correct += pred == label
    return 100 * correct / len(test)


@pytest.mark.parametrize(("forward", "backward"), TEMPORAL_PAIRS)
def test_mean_pooling_is_at_chance_and_order_aware_features_separate(forward, backward):
    pair = ClassSpec("red", "square", forward), ClassSpec("red", "square", backward)

    def clips(seeds):
        return [
            (render_clip(pair[y], np.random.default_rng(s), FRAMES, HEIGHT, WIDTH), y)
            for s in seeds
            for y in (0, 1)
        ]

    train, test = clips(range(20)), clips(range(100, 120))
    # Same seed, partner class: exactly the reversed clip, so a frame-order-blind embedding cannot differ.
    for (a, _), (b, _) in zip(test[::2], test[1::2], strict=True):
        np.testing.assert_array_equal(a, b[::-1])
    assert nearest_centroid_accuracy(order_blind, train, test) == pytest.approx(50.0)
    assert nearest_centroid_accuracy(order_aware, train, test) >= 90.0
