"""Frame sampling: ViFi-CLIP's segments (METHODS §4.2) and EVL's dense strided clips (§7.2, §7.3).

Segment sampling is mmaction's `SampleFrames(clip_len=1, num_clips=T)`: the video is cut into T equal segments
and one frame is taken from each, a random one in training, the centre one at test time. Dense sampling takes
T frames `stride` apart from one start, random in training, spread over the video at test time.
Randomness comes from torch (a given generator, else the global RNG), so the per-worker seeding of
`DataLoader` makes workers draw different offsets.
"""

from __future__ import annotations

import torch


def _check(n: int, t: int, stride: int = 1) -> None:
    """Reject clips that cannot be sampled, instead of returning indices into an empty video."""
    if n <= 0:
        raise ValueError(f"cannot sample frames from a video with {n} frames")
    if t <= 0:
        raise ValueError(f"number of frames per clip must be positive, got {t}")
    if stride <= 0:
        raise ValueError(f"frame stride must be positive, got {stride}")


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


def dense_train_indices(n: int, t: int, stride: int, generator: torch.Generator | None = None) -> list[int]:
    """EVL's training clip: `t` frames `stride` apart from a random start in `[0, n - stride * (t - 1))`.

    A video too short for the span (`stride * (t - 1) + 1 >= n`) takes `i * stride` from 0 and repeats the
    last of those inside the video (not the video's last frame) for the rest, as EVL does.
    """
    _check(n, t, stride)
    span = stride * (t - 1)
    if span + 1 >= n:
        last = (n - 1) // stride * stride
        return [min(i * stride, last) for i in range(t)]
    start = int(torch.randint(n - span, (1,), generator=generator).item())
    return [start + i * stride for i in range(t)]


def dense_test_indices(n: int, t: int, stride: int, views: int) -> list[list[int]]:
    """EVL's test clips: `views` lists of `t` frames `stride` apart, spread evenly over the video.

    A clip spans `(t - 1) * stride + 1` frames; a shorter video is padded by repeating its last frame. The
    slack (frames beyond one span) places the starts: its middle for one view, else `round(slack / (views - 1)
    * j)`, from the first frame to the last, with Python's (and EVL's) round half to even.
    """
    _check(n, t, stride)
    if views <= 0:
        raise ValueError(f"number of temporal views must be positive, got {views}")
    slack = max(n - ((t - 1) * stride + 1), 0)
    starts = [slack // 2] if views == 1 else [round(slack / (views - 1) * j) for j in range(views)]
    return [[min(s + i * stride, n - 1) for i in range(t)] for s in starts]
