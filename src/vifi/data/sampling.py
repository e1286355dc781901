"""Frame sampling of ViFi-CLIP (METHODS §4.2), as mmaction `SampleFrames(clip_len=1, num_clips=T)`.

The video is cut into T equal segments and one frame is taken from each: a random one in training, the
centre one at test time. Randomness comes from torch (a given generator, else the global RNG), so the
per-worker seeding of `DataLoader` makes workers draw different offsets.
"""

from __future__ import annotations

import torch


def _check(n: int, t: int) -> None:
    """Reject clips that cannot be sampled, instead of returning indices into an empty video."""
    if n <= 0:
        raise ValueError(f"cannot sample frames from a video with {n} frames")
    if t <= 0:
        raise ValueError(f"number of frames per clip must be positive, got {t}")


def train_indices(n: int, t: int, generator: torch.Generator | None = None) -> list[int]:
    """TSN segment sampling for training: a random frame of each of the `t` segments of `n // t` frames.

    The last `n mod t` frames are never used, as in mmaction. Shorter videos (`n < t`) repeat frames at
    `round(i * n / t)` (round half to even, like `np.around`).
    """
    _check(n, t)
    seg = n // t
    if seg > 0:
        offsets = torch.randint(seg, (t,), generator=generator).tolist()
        indices = [i * seg + off for i, off in enumerate(offsets)]
    else:
        ratio = n / t
        indices = [round(i * ratio) for i in range(t)]
    return [i % n for i in indices]


def test_indices(n: int, t: int) -> list[int]:
    """Deterministic single-view test sampling: the centre frame of each of `t` segments of `n / t` frames."""
    _check(n, t)
    seg = n / t
    return [int(i * seg + seg / 2.0) % n for i in range(t)]
