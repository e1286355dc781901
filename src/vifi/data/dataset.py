"""Torch dataset of clips read from extracted frame shards.

Each item samples frame indices (METHODS §4.2), reads only those frames from the `FrameStore` and applies the
spatial transform (§4.3). Missing videos are detected when the dataset is built, not in a worker hours into
training, which is where the official loader crashes on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vifi.data.annotations import Item
from vifi.data.framestore import FrameStore
from vifi.data.sampling import test_indices, train_indices

MAX_LISTED = 10


class MissingVideosError(LookupError):
    """A split list names videos that the frame store does not hold; the message lists them."""


class ClipDataset(Dataset):
    """`(clip, label)` pairs: clip is float32 `(T, 3, I, I)`, label the item's class id."""

    def __init__(
        self,
        store: FrameStore,
        items: Sequence[Item],
        num_frames: int,
        transform: Callable[[np.ndarray], torch.Tensor],
        train: bool,
        source: str | None = None,
        seed: int | None = None,
    ) -> None:
        _check_present(store, items, source)
        self.store = store
        self.items = list(items)
        self.num_frames = num_frames
        self.transform = transform
        self.train = train
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random draws `__getitem__` makes (see `seed`)."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if self.seed is None:
            return self._load(index)
        # Each (seed, epoch, item) gets its own random stream, so the clip a video yields does not depend
        # on which process, worker or batch position loads it: 2 processes equal 1, and a resumed run
        # repeats the draws of an uninterrupted one.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0]))
            return self._load(index)

    def _load(self, index: int) -> tuple[torch.Tensor, int]:
        item = self.items[index]
        n = self.store.num_frames(item.path)
        sample = train_indices if self.train else test_indices
        frames = self.store.read(item.path, sample(n, self.num_frames))
        return self.transform(frames), item.label


def _check_present(store: FrameStore, items: Sequence[Item], source: str | None) -> None:
    """Raise one error listing the first missing videos, with quarantine reasons where known."""
    missing = list(dict.fromkeys(item.path for item in items if item.path not in store))
    if not missing:
        return
    failed = store.failed
    shown = [f"{p} (quarantined: {failed[p]})" if p in failed else p for p in missing[:MAX_LISTED]]
    more = f"\n  ... and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
    where = f" listed in {source}" if source else ""
    raise MissingVideosError(
        f"{len(missing)} video(s){where} are not in the frame store ({len(store.shards)} shard(s)):\n  "
        + "\n  ".join(shown)
        + more
    )
