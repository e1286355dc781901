"""K-shot subsets (the few-shot and base-to-novel training sets, METHODS §5) hold K distinct videos a class."""

from __future__ import annotations

from vifi.data.lists.annotations import Item
from vifi.data.lists.splits import few_shot


def test_k_shots_are_k_distinct_videos_whatever_the_seed() -> None:
    """With K equal to a class's whole pool the draw must take every video once; drawing with replacement
    repeats one in all but 1.5% of seeds."""
    items = [Item(f"c{label}/v{i}.mp4", label) for label in range(3) for i in range(6)]
    for seed in range(10):
        subset = few_shot(items, 3, 6, seed=seed)
        assert sorted(subset, key=lambda it: it.path) == sorted(items, key=lambda it: it.path), seed
        smaller = few_shot(items, 3, 5, seed=seed)
        assert len(set(smaller)) == 15 and set(smaller) <= set(items), seed
