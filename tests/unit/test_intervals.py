"""Confidence intervals: per-video files, the two-level and paired bootstrap, and the aggregate's intervals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_report import VIDEOS, per_video, write_metrics
from vifi.metrics import harmonic_mean, topk_accuracy
from vifi.report.aggregate import MetricsError, aggregate_runs, load_runs, paired_sample
from vifi.report.bootstrap import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    Interval,
    Outcomes,
    Sample,
    bootstrap,
    estimates,
    harmonic,
    interval,
    verdict,
)
from vifi.report.predictions import PredictionsError, from_scores, read_predictions, write_predictions

rng = np.random.default_rng(7)  # constructs data only; the bootstrap has its own fixed seed


def keys(n: int, prefix: str = "v") -> tuple[str, ...]:
    return tuple(f"{prefix}{i}.mp4" for i in range(n))


def single(correct: np.ndarray, prefix: str = "v") -> Sample:
    """One run, one set, one column."""
    return Sample(((Outcomes(keys(len(correct), prefix), correct[:, None]),),))


def first(acc: np.ndarray) -> np.ndarray:
    return acc[..., 0, 0]


def test_all_correct_and_all_wrong_have_no_width() -> None:
    assert estimates(single(np.ones(50, bool)), {"a": first})["a"] == Interval(100.0, 100.0, 100.0)
    assert estimates(single(np.zeros(50, bool)), {"a": first})["a"] == Interval(0.0, 0.0, 0.0)


def test_a_fair_coin_over_many_videos_has_the_binomial_width() -> None:
    n = 10_000
    coin = rng.permutation(np.arange(n) < n // 2)
    result = estimates(single(coin), {"a": first})["a"]
    binomial = 2 * 1.959964 * 100 * np.sqrt(0.25 / n)  # 1.96 points
    assert result.value == 50.0
    assert abs((result.hi - result.lo) - binomial) < 0.1
    assert result.lo < 50.0 < result.hi


def test_the_fixed_seed_makes_intervals_reproducible() -> None:
    sample = single(rng.random(300) < 0.3)
    np.testing.assert_array_equal(bootstrap(sample), bootstrap(sample))
    assert not np.array_equal(bootstrap(sample), bootstrap(sample, seed=1))
    assert bootstrap(sample).shape == (2000, 1, 1)


def test_splits_are_resampled_before_their_videos() -> None:
    """Three splits at 0%, 50% and 100%: the spread between splits dominates; pooling them would hide it."""
    half = np.arange(100) < 50
    accuracies = (np.zeros(100, bool), half, np.ones(100, bool))
    splits = Sample(tuple((Outcomes(keys(100, f"s{i}-"), a[:, None]),) for i, a in enumerate(accuracies)))
    two_level = estimates(splits, {"a": first})["a"]
    assert (two_level.value, two_level.lo, two_level.hi) == (50.0, 0.0, 100.0)  # all 3 draws of one split: 1/27
    pooled = estimates(single(np.concatenate(accuracies)), {"a": first})["a"]
    assert pooled.value == 50.0 and pooled.hi - pooled.lo < 15


def paired_case() -> tuple[np.ndarray, np.ndarray]:
    """B is right on every video A is right on, and on 12 more of 400: +3 points, always on A's videos."""
    a = np.arange(400) < 200
    b = a | ((np.arange(400) >= 200) & (np.arange(400) < 212))
    return b, a


def test_paired_bootstrap_sees_a_difference_the_unpaired_one_cannot() -> None:
    better, worse = paired_case()
    sample = Sample(((Outcomes(keys(400), np.stack([better, worse], axis=1)),),))
    paired = estimates(sample, {"d": lambda acc: acc[..., 0, 0] - acc[..., 0, 1]})["d"]
    assert paired.value == 3.0 and paired.lo > 0 and verdict(paired) == HOLDS
    draws = bootstrap(single(better), seed=1)[:, 0, 0] - bootstrap(single(worse), seed=2)[:, 0, 0]
    unpaired = interval(3.0, draws)
    assert unpaired.lo < 0 < unpaired.hi and verdict(unpaired) == INCONCLUSIVE


def test_a_run_paired_with_itself_differs_by_exactly_nothing() -> None:
    correct = rng.random(300) < 0.6
    sample = Sample(((Outcomes(keys(300), np.stack([correct, correct], axis=1)),),))
    assert estimates(sample, {"d": lambda acc: acc[..., 0, 0] - acc[..., 0, 1]})["d"] == Interval(0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [(0.1, 5.0, HOLDS), (-5.0, -0.1, FAILS), (-1.0, 1.0, INCONCLUSIVE), (0.0, 2.0, INCONCLUSIVE)],
)
def test_verdict_follows_the_interval(lo: float, hi: float, expected: str) -> None:
    assert verdict(Interval(1.0, lo, hi)) == expected


def test_harmonic_is_the_metrics_hm_elementwise() -> None:
    base, novel = np.array([90.0, 0.0, 50.0]), np.array([40.0, 0.0, 0.0])
    assert harmonic(base, novel).tolist() == [harmonic_mean(b, n) for b, n in zip(base, novel, strict=True)]


def test_sample_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="same sets and columns"):
        Sample(((Outcomes(keys(2), np.ones((2, 1))),), (Outcomes(keys(2), np.ones((2, 2))),)))


def test_per_video_outcomes_agree_with_topk_accuracy_and_round_trip(tmp_path: Path) -> None:
    probs = rng.random((40, 7))
    probs[3] = probs[3, 0]  # a full tie: class 0 wins it
    labels = rng.integers(0, 7, 40)
    labels[3] = 0
    videos = [f"clip, {i}.webm" for i in range(40)]  # a comma must survive the CSV
    result = from_scores(videos, probs, labels)
    accuracy = topk_accuracy(probs, labels, ks=(1, 5))
    assert (result.accuracy("top1"), result.accuracy("top5")) == (accuracy[1], accuracy[5])
    assert result.predictions[3] == 0 and result.correct1[3]
    path = tmp_path / "predictions.csv"
    write_predictions(path, {"base": result, "novel": from_scores(videos[:2], probs[:2], labels[:2])})
    back = read_predictions(path)
    assert list(back) == ["base", "novel"] and back["base"].videos == tuple(videos)
    np.testing.assert_array_equal(back["base"].correct5, result.correct5)
    np.testing.assert_allclose(back["base"].probability, result.probability, atol=1e-6)
    assert back["novel"].source == f"{path} (set 'novel')"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("set,video\nval,a,0,0,0.5,1,1\n", "line 1 must be the header"),
        ("set,video,label,prediction,probability,correct1,correct5\nval,a,0,1,0.5,1,1\n", "line 2: correct1"),
        ("set,video,label,prediction,probability,correct1,correct5\nval,a,0,0,0.5,1,0\n", "line 2: correct1"),
        ("set,video,label,prediction,probability,correct1,correct5\nval,a,x,0,0.5,0,0\n", "line 2: label and"),
        ("set,video,label,prediction,probability,correct1,correct5\n", "no videos"),
    ],
)
def test_malformed_per_video_file_is_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "predictions.csv"
    path.write_text(content)
    with pytest.raises(PredictionsError, match=f"{path}.*{message}"):
        read_predictions(path)


def test_aggregate_carries_an_interval_per_value(tmp_path: Path) -> None:
    paths = [
        write_metrics(tmp_path, "fewshot", "ucf101", "vifi", "2shot-seed1", {"val": (100.0, 100.0)}),
        write_metrics(tmp_path, "fewshot", "ucf101", "vifi", "8shot-seed1", {"val": (50.0, 90.0)}),
    ]
    table = aggregate_runs("fewshot", load_runs(paths, "fewshot"))
    perfect, half = table.iloc[0], table.iloc[1]
    assert (perfect["top1_lo"], perfect["top1_hi"], perfect["top5_lo"], perfect["top5_hi"]) == (100.0,) * 4
    assert half["top1_lo"] < 50.0 < half["top1_hi"] and half["top5_lo"] < 90.0 < half["top5_hi"]
    assert half["top1_hi"] - half["top1_lo"] == pytest.approx(2 * 1.96 * 100 * np.sqrt(0.25 / VIDEOS), abs=0.3)


def test_base_to_novel_intervals_cover_seeds_and_hm(tmp_path: Path) -> None:
    paths = [
        write_metrics(
            tmp_path, "base2novel", "ucf101", "vifi", f"seed{s}", {"base": (b, 100.0), "novel": (n, 100.0)}
        )
        for s, (b, n) in enumerate([(80.0, 20.0), (90.0, 40.0), (100.0, 60.0)], start=1)
    ]
    row = aggregate_runs("base2novel", load_runs(paths, "base2novel")).iloc[0]
    # The seeds' spread, not the videos' (90 +- 1.3): all three draws of seed 3 (1 in 27) are exactly 100%.
    assert row["base_mean_hi"] == 100.0 and 80.0 < row["base_mean_lo"] < 82.0
    assert row["novel_mean_lo"] < 25.0 and row["novel_mean_hi"] > 55.0
    assert row["hm_lo"] < row["hm"] < row["hm_hi"]


def test_predictions_that_disagree_with_metrics_are_named(tmp_path: Path) -> None:
    path = write_metrics(tmp_path, "fullsup", "k400", "vifi", "main", {"val": (50.0, 90.0)})
    write_predictions(path.with_name("predictions.csv"), {"val": per_video(50.5, 90.0)})
    with pytest.raises(
        MetricsError, match=rf"predictions.csv: top1 of set 'val' is 50.5000, but {path} says 50"
    ):
        load_runs([path], "fullsup")


def test_metrics_without_per_video_file_is_named(tmp_path: Path) -> None:
    path = write_metrics(tmp_path, "fullsup", "k400", "vifi", "main", {"val": (50.0, 90.0)})
    record = json.loads(path.read_text())
    del record["predictions"]
    path.write_text(json.dumps(record))
    with pytest.raises(MetricsError, match=rf"{path}: missing key 'predictions'"):
        load_runs([path], "fullsup")


def test_pairing_needs_the_same_videos(tmp_path: Path) -> None:
    paths = [
        write_metrics(tmp_path, "fullsup", "ssv2", method, "main", {"val": (50.0, 90.0)})
        for method in ("vifi", "evl")
    ]
    runs = load_runs(paths, "fullsup")
    other = runs.iloc[1]["predictions"]["val"]
    runs.iloc[1]["predictions"]["val"] = type(other)(**{**vars(other), "videos": keys(VIDEOS, "w")})
    arms = [{"val": (run["predictions"]["val"],)} for _, run in runs.iterrows()]
    with pytest.raises(MetricsError, match="not the same videos, so not comparable"):
        paired_sample(arms, ("top1",))
