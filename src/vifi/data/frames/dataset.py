"""Torch dataset of clips read from extracted frame shards.

Each item samples frame indices (METHODS §4.2, or EVL's dense clips §7.2/§7.3), reads only those frames from
the `FrameStore` and applies the spatial transform (§4.3). Missing videos are detected when the dataset is
built, not in a worker hours into training, which is where the official loader crashes on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from vifi.data.frames.sampling import dense_test_indices, dense_train_indices, test_indices, train_indices
from vifi.data.frames.store import FrameStore
from vifi.data.lists.annotations import Item

MAX_LISTED = 10
SAMPLING = ("segment", "dense")


class MissingVideosError(LookupError):
    """A split list names videos that the frame store does not hold; the message lists them."""


class ClipDataset(Dataset):
    """`(clip, label)` pairs: clip is float32 `(T, 3, I, I)`, label the item's class id.

    `sampling` picks segment (ViFi-CLIP) or dense (EVL, frames `stride` apart) indices. With `num_clips`
    (evaluation only) an item holds every view of the video instead, `(V, T, 3, I, I)` with V = `num_clips`
    x the transform's crops, clip-major: all crops of clip 0 first. (The paper's layout is crop-major; the
    score is a mean over views, so the order does not matter.) Segment clips beyond the first use training
    offsets, as the paper does (§4.2), drawn from a generator seeded by (item index, clip), so evaluation is
    reproducible and independent of which process scores the video; dense clips are spread evenly (§7.3).
    """

    def __init__(
        self,
        store: FrameStore,
        items: Sequence[Item],
        num_frames: int,
        transform: Callable[[np.ndarray], torch.Tensor],
        train: bool,
        source: str | None = None,
        seed: int | None = None,
        *,
        sampling: str = "segment",
        stride: int = 1,
        num_clips: int | None = None,
    ) -> None:
        _check_sampling(sampling, stride, train, num_clips)
        _check_present(store, items, source)
        self.store = store
        self.items = list(items)
        self.num_frames = num_frames
        self.transform = transform
        self.train = train
        self.seed = seed
        self.sampling = sampling
        self.stride = stride
        self.num_clips = num_clips
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
        # repeats the draws of an uninterrupted one. Only the CPU generator is seeded: `torch.manual_seed`
        # would also reseed (or, before their first use, queue a seed with a recorded stack for) CUDA, XPU
        # and MTIA, which `fork_rng(devices=[])` does not restore, and the queuing alone cost 5% of a demo
        # training job.
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(self._stream(index))
            return self._load(index)

    def _stream(self, index: int) -> int:
        return int(np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0])

    def _load(self, index: int) -> tuple[torch.Tensor, int]:
        item = self.items[index]
        clips = self._indices(self.store.num_frames(item.path), index)
        frames = self.store.read(item.path, [i for clip in clips for i in clip])  # each frame decoded once
        if self.num_clips is None:
            return self.transform(frames), item.label
        views = [self.transform(part) for part in np.split(frames, len(clips))]
        return torch.stack(views).flatten(0, -5), item.label

    def _indices(self, n: int, index: int) -> list[list[int]]:
        """Frame indices of each clip of item `index`, a video of `n` frames."""
        t = self.num_frames
        if self.train:
            if self.sampling == "dense":
                return [dense_train_indices(n, t, self.stride)]
            return [train_indices(n, t)]
        clips = self.num_clips or 1
        if self.sampling == "dense":
            return dense_test_indices(n, t, self.stride, clips)
        if clips == 1:
            return [test_indices(n, t)]
        return [train_indices(n, t, view_generator(index, clip)) for clip in range(clips)]


def view_generator(index: int, clip: int) -> torch.Generator:
    """The random stream of evaluation clip `clip` of item `index`."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([index, clip]).generate_state(1)[0]))


def _check_sampling(sampling: str, stride: int, train: bool, num_clips: int | None) -> None:
    """Reject a bad sampling setup when the dataset is built rather than in the first worker that loads."""
    if sampling not in SAMPLING:
        raise ValueError(f"unknown frame sampling {sampling!r}; expected one of {SAMPLING}")
    if stride < 1:
        raise ValueError(f"frame stride must be positive, got {stride}")
    if num_clips is not None and (train or num_clips < 1):
        raise ValueError(f"num_clips is for evaluation and must be positive, got {num_clips} (train={train})")


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
