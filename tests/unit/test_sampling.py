"""Segment sampling against hand-computed mmaction `SampleFrames` outputs, dense sampling against EVL's."""

from __future__ import annotations

import pytest
import torch

from vifi.data.frames.sampling import dense_test_indices, dense_train_indices, train_indices
from vifi.data.frames.sampling import test_indices as centre_indices


def draws(n: int, t: int, seeds: range = range(50)) -> list[list[int]]:
    return [train_indices(n, t, torch.Generator().manual_seed(s)) for s in seeds]


def test_train_one_random_frame_per_segment() -> None:
    # n=16, t=8: segments of 2 frames, index i is 2i or 2i+1, and both offsets occur.
    samples = draws(16, 8)
    for indices in samples:
        assert [i // 2 for i in indices] == list(range(8))
    assert {i % 2 for indices in samples for i in indices} == {0, 1}


def test_train_drops_the_remainder() -> None:
    # n=100, t=32: segments of 3 frames; frames 96..99 are never used.
    samples = draws(100, 32)
    for indices in samples:
        assert [i // 3 for i in indices] == list(range(32))
    assert max(max(s) for s in samples) == 95
    assert {i % 3 for s in samples for i in s} == {0, 1, 2}


def test_train_short_video_repeats_frames_round_half_even() -> None:
    # n=5, t=8: round(i * 0.625) with 2.5 -> 2 (numpy's round half to even).
    assert train_indices(5, 8) == [0, 1, 1, 2, 2, 3, 4, 4]
    assert train_indices(1, 4) == [0, 0, 0, 0]


def test_train_indices_depend_on_seed_and_are_reproducible() -> None:
    samples = draws(100, 8, range(10))
    assert len({tuple(s) for s in samples}) > 1
    again = train_indices(100, 8, torch.Generator().manual_seed(3))
    assert again == samples[3]


def test_train_uses_global_rng_without_generator() -> None:
    torch.manual_seed(0)
    first = train_indices(1000, 8)
    torch.manual_seed(0)
    assert train_indices(1000, 8) == first


def test_test_indices_are_segment_centres() -> None:
    assert centre_indices(16, 8) == [1, 3, 5, 7, 9, 11, 13, 15]
    # n=100, t=32: seg 3.125 -> int(3.125 i + 1.5625)
    expected = [int(3.125 * i + 1.5625) for i in range(32)]
    assert expected[:4] == [1, 4, 7, 10] and expected[-1] == 98
    assert centre_indices(100, 32) == expected
    assert centre_indices(5, 8) == [0, 0, 1, 2, 2, 3, 4, 4]


@pytest.mark.parametrize("n", [1, 3, 7, 8, 9, 31, 250])
@pytest.mark.parametrize("t", [1, 8, 32])
def test_indices_stay_in_range(n: int, t: int) -> None:
    for indices in [*draws(n, t, range(5)), centre_indices(n, t)]:
        assert len(indices) == t and all(0 <= i < n for i in indices)


def test_empty_video_is_rejected() -> None:
    with pytest.raises(ValueError, match="0 frames"):
        train_indices(0, 8)
    with pytest.raises(ValueError):
        centre_indices(10, 0)


def test_dense_train_random_start_then_fixed_stride() -> None:
    # n=20, t=4, stride=4: span 12, start uniform in [0, 8).
    samples = [dense_train_indices(20, 4, 4, torch.Generator().manual_seed(s)) for s in range(60)]
    for indices in samples:
        assert [i - indices[0] for i in indices] == [0, 4, 8, 12]
    assert {s[0] for s in samples} == set(range(8))
    again = dense_train_indices(20, 4, 4, torch.Generator().manual_seed(7))
    assert again == samples[7]


def test_dense_train_short_video_repeats_the_last_index_inside_it() -> None:
    # stride * (t - 1) + 1 >= n: i * stride from 0, past the end repeat the last one inside (8, not frame 9).
    assert dense_train_indices(10, 4, 4) == [0, 4, 8, 8]
    assert dense_train_indices(13, 4, 4) == [0, 4, 8, 12]  # exactly one span: start 0, nothing to draw
    assert dense_train_indices(1, 3, 5) == [0, 0, 0]


def test_dense_test_views_spread_over_the_slack() -> None:
    # n=20, t=4, stride=4: span 13, slack 7.
    assert dense_test_indices(20, 4, 4, 1) == [[3, 7, 11, 15]]  # middle of the slack, 7 // 2
    assert dense_test_indices(20, 4, 4, 3) == [[0, 4, 8, 12], [4, 8, 12, 16], [7, 11, 15, 19]]
    # slack 5 over 3 views: starts 0, round(2.5) = 2 (half to even), 5
    assert [v[0] for v in dense_test_indices(18, 4, 4, 3)] == [0, 2, 5]


def test_dense_test_short_video_pads_with_its_last_frame() -> None:
    # n=10 < span 13: no slack, indices past the end read the last frame (9), unlike training's 8.
    assert dense_test_indices(10, 4, 4, 2) == [[0, 4, 8, 9], [0, 4, 8, 9]]
    assert dense_test_indices(10, 4, 4, 1) == [[0, 4, 8, 9]]


@pytest.mark.parametrize("n", [1, 5, 13, 40])
def test_dense_indices_stay_in_range(n: int) -> None:
    for indices in [dense_train_indices(n, 8, 3), *dense_test_indices(n, 8, 3, 4)]:
        assert len(indices) == 8 and all(0 <= i < n for i in indices)
    with pytest.raises(ValueError, match="stride"):
        dense_train_indices(n, 8, 0)
    with pytest.raises(ValueError, match="views"):
        dense_test_indices(n, 8, 2, 0)
