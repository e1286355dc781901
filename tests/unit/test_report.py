"""Aggregation of metrics.json files per protocol into one table each (rendering: test_tables.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vifi.metrics import harmonic_mean
from vifi.report import aggregate
from vifi.report.aggregate import MetricsError, aggregate_runs, load_runs
from vifi.report.predictions import SetPredictions, write_predictions
from vifi.stages import aggregate as aggregate_stage

VIDEOS = 2000  # per set: every accuracy below is a whole number of these videos

# Per-seed (base, novel) top-1. The vifi seeds are chosen so that the HM of the averages (55.38) differs from
# the average of the per-seed HMs (52.81); vanilla has the best novel and HM on UCF-101.
RUNS = {
    ("ucf101", "vifi"): [(80.0, 60.0), (90.0, 20.0), (100.0, 40.0)],
    ("ucf101", "vanilla"): [(70.0, 50.0), (72.0, 52.0), (71.0, 51.0)],
    ("hmdb51", "text"): [(60.0, 30.0)],
}
# Zero-shot top-1 per split, in the order the files are written: targets and splits out of display order. The
# k600 splits have mean 55 and sample std sqrt(325) = 18.03; the population std would be 14.72.
ZEROSHOT = {
    ("ucf101", "vifi"): {"split2": 72.0, "split3": 74.0, "split1": 70.0},
    ("hmdb51", "vanilla"): {"split1": 30.0, "split2": 35.0, "split3": 31.0},
    ("k600", "vifi"): {"split3": 75.0, "split1": 40.0, "split2": 50.0},
}
# Few-shot (top-1, top-5) per K; K = 16 comes first and 2 < 8 < 16 only as numbers, not as strings.
FEWSHOT = {
    ("ucf101", "vifi"): {16: (90.0, 99.0), 2: (50.0, 80.0), 8: (75.0, 95.0)},
    ("hmdb51", "vifi"): {2: (40.0, 70.0)},
    ("hmdb51", "vanilla"): {2: (20.0, 50.0)},
}
# Fully supervised (top-1, top-5, (clips, crops)).
FULLSUP = {
    ("ssv2", "evl"): (45.5, 75.25, (1, 1)),
    ("k400", "vifi"): (83.9, 96.3, (4, 3)),
    ("k400", "evl"): (82.9, 95.8, (4, 3)),
}


def per_video(top1: float, top5: float) -> SetPredictions:
    """`VIDEOS` videos of which the first `top1` percent rank their label first, the first `top5` percent in
    the top five (out-of-range accuracies are clipped: the metrics check must be the one to fail)."""
    rank = np.arange(VIDEOS)
    correct1 = rank < round(top1 * VIDEOS / 100)
    correct5 = rank < round(top5 * VIDEOS / 100)
    return SetPredictions(
        videos=tuple(f"v{i}.mp4" for i in range(VIDEOS)),
        labels=np.zeros(VIDEOS, dtype=np.int64),
        predictions=np.where(correct1, 0, 1),
        probability=np.full(VIDEOS, 0.5),
        correct1=correct1,
        correct5=correct5 | correct1,
    )


def write_metrics(
    root: Path,
    protocol: str,
    dataset: str,
    method: str,
    run: str,
    sets: dict[str, tuple[float, float]],
    views: tuple[int, int] = (1, 1),
) -> Path:
    """A metrics.json as `vifi evaluate` writes it, with its per-video file, at its place under `root`."""
    path = root / "runs" / protocol / dataset / method / run / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    results = {
        name: {
            "top1": top1,
            "top5": top5,
            "videos": VIDEOS,
            "classes": 8,
            "views": {"clips": views[0], "crops": views[1]},
        }
        for name, (top1, top5) in sets.items()
    }
    write_predictions(path.with_name("predictions.csv"), {name: per_video(*top) for name, top in sets.items()})
    record = {
        "protocol": protocol,
        "dataset": dataset,
        "method": method,
        "run": run,
        "metrics": results,
        "predictions": "predictions.csv",
        "provenance": {"device": "cpu"},
    }
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def write_run(root: Path, dataset: str, method: str, seed: int, base: float, novel: float) -> Path:
    sets = {"base": (base, 100.0), "novel": (novel, 97.5)}
    return write_metrics(root, "base2novel", dataset, method, f"seed{seed}", sets)


def edit_record(path: Path, **changes: object) -> None:
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


@pytest.fixture
def run_paths(tmp_path: Path) -> list[Path]:
    results = tmp_path / "results"
    return [
        write_run(results, dataset, method, seed, base, novel)
        for (dataset, method), seeds in RUNS.items()
        for seed, (base, novel) in enumerate(seeds, start=1)
    ]


@pytest.fixture
def zeroshot_paths(tmp_path: Path) -> list[Path]:
    return [
        write_metrics(tmp_path, "zeroshot", ds, m, "main", {s: (top1, 90.0) for s, top1 in splits.items()})
        for (ds, m), splits in ZEROSHOT.items()
    ]


@pytest.fixture
def fewshot_paths(tmp_path: Path) -> list[Path]:
    return [
        write_metrics(tmp_path, "fewshot", ds, m, f"{k}shot-seed1", {"val": top})
        for (ds, m), per_k in FEWSHOT.items()
        for k, top in per_k.items()
    ]


@pytest.fixture
def fullsup_paths(tmp_path: Path) -> list[Path]:
    return [
        write_metrics(tmp_path, "fullsup", ds, m, "main", {"val": (top1, top5)}, views)
        for (ds, m), (top1, top5, views) in FULLSUP.items()
    ]


@pytest.fixture
def agg(run_paths: list[Path]) -> pd.DataFrame:
    return aggregate_runs("base2novel", load_runs(run_paths, "base2novel"))


def test_load_runs_one_row_per_run(run_paths: list[Path]) -> None:
    df = load_runs(run_paths, "base2novel")
    assert len(df) == 7
    first = df.iloc[0]
    assert (first["dataset"], first["method"], first["run"], first["seed"]) == ("ucf101", "vifi", "seed1", 1)
    assert (first["base_top1"], first["base_top5"], first["novel_top1"], first["novel_top5"]) == (
        80.0,
        100.0,
        60.0,
        97.5,
    )
    assert first["path"] == str(run_paths[0])


def test_aggregate_hm_is_taken_from_seed_averages(agg: pd.DataFrame) -> None:
    row = agg[(agg["dataset"] == "ucf101") & (agg["method"] == "vifi")].iloc[0]
    assert row["n_seeds"] == 3
    assert row["base_mean"] == pytest.approx(90.0)
    assert row["base_std"] == pytest.approx(10.0)
    assert row["novel_mean"] == pytest.approx(40.0)
    assert row["novel_std"] == pytest.approx(20.0)
    assert row["hm"] == pytest.approx(2 * 90 * 40 / 130)
    mean_of_hms = sum(harmonic_mean(b, n) for b, n in RUNS[("ucf101", "vifi")]) / 3
    assert abs(row["hm"] - mean_of_hms) > 2  # the case really tells the two definitions apart
    assert [Path(p).parent.name for p in row["runs"]] == ["seed1", "seed2", "seed3"]


def test_aggregate_orders_rows_by_names_and_runs_by_seed(run_paths: list[Path]) -> None:
    # ucf101/vifi first and with its seeds reversed: neither order may survive aggregation.
    agg = aggregate_runs("base2novel", load_runs(run_paths[2::-1] + run_paths[3:], "base2novel"))
    assert list(zip(agg["dataset"], agg["method"], strict=True)) == [
        ("hmdb51", "text"),
        ("ucf101", "vanilla"),
        ("ucf101", "vifi"),
    ]
    assert [Path(p).parent.name for p in agg["runs"].iloc[2]] == ["seed1", "seed2", "seed3"]


def test_zeroshot_mean_and_sample_std_over_splits(zeroshot_paths: list[Path]) -> None:
    table = aggregate_runs("zeroshot", load_runs(zeroshot_paths, "zeroshot"))
    assert list(zip(table["dataset"], table["method"], strict=True)) == [
        ("k600", "vifi"),
        ("hmdb51", "vanilla"),
        ("ucf101", "vifi"),
    ]
    assert list(table.columns) == [
        "dataset", "method", "split1", "split2", "split3", "mean", "std", "n_splits", "mean_lo", "mean_hi",
        "runs",
    ]  # fmt: skip
    k600 = table.iloc[0]
    assert (k600["split1"], k600["split2"], k600["split3"]) == (40.0, 50.0, 75.0)
    assert k600["mean"] == pytest.approx(55.0)
    assert k600["std"] == pytest.approx(math.sqrt(325))
    assert k600["n_splits"] == 3
    assert k600["runs"] == [str(zeroshot_paths[2])]
    assert table.iloc[1]["mean"] == pytest.approx(32.0)


def test_zeroshot_run_missing_a_split_is_named(zeroshot_paths: list[Path]) -> None:
    broken = zeroshot_paths[1]
    record = json.loads(broken.read_text())
    del record["metrics"]["split2"]
    broken.write_text(json.dumps(record))
    with pytest.raises(MetricsError, match=rf"{broken}: missing evaluation set\(s\) split2"):
        aggregate_runs("zeroshot", load_runs(zeroshot_paths, "zeroshot"))


def test_zeroshot_set_that_is_not_a_split_is_named(zeroshot_paths: list[Path]) -> None:
    record = json.loads(zeroshot_paths[0].read_text())
    edit_record(zeroshot_paths[0], metrics=record["metrics"] | {"val": record["metrics"]["split1"]})
    with pytest.raises(MetricsError, match=rf"{zeroshot_paths[0]}: 'metrics\.val' is not a zero-shot split"):
        load_runs(zeroshot_paths, "zeroshot")


def test_fewshot_one_row_per_shot_count_in_numeric_order(fewshot_paths: list[Path]) -> None:
    table = aggregate_runs("fewshot", load_runs(fewshot_paths, "fewshot"))
    assert list(zip(table["dataset"], table["method"], table["shots"], strict=True)) == [
        ("hmdb51", "vanilla", 2),
        ("hmdb51", "vifi", 2),
        ("ucf101", "vifi", 2),
        ("ucf101", "vifi", 8),
        ("ucf101", "vifi", 16),
    ]
    assert list(zip(table["top1"], table["top5"], strict=True))[2:] == [
        (50.0, 80.0),
        (75.0, 95.0),
        (90.0, 99.0),
    ]
    assert [Path(p).parent.name for (p,) in table["runs"]] == [f"{k}shot-seed1" for k in (2, 2, 2, 8, 16)]


def test_fewshot_averages_the_k_shot_draws_and_counts_them(tmp_path: Path) -> None:
    draws = {3: (80.0, 100.0), 1: (60.0, 90.0)}  # written out of order
    paths = [
        write_metrics(tmp_path, "fewshot", "ucf101", "vifi", f"8shot-seed{s}", {"val": t})
        for s, t in draws.items()
    ]
    row = aggregate_runs("fewshot", load_runs(paths, "fewshot")).iloc[0]
    assert (row["top1"], row["top5"], row["n_seeds"]) == (70.0, 95.0, 2)
    assert [Path(p).parent.name for p in row["runs"]] == ["8shot-seed1", "8shot-seed3"]


def test_fullsup_keeps_views_with_the_accuracies(fullsup_paths: list[Path]) -> None:
    table = aggregate_runs("fullsup", load_runs(fullsup_paths, "fullsup"))
    assert list(zip(table["dataset"], table["method"], strict=True)) == [
        ("k400", "vifi"),
        ("k400", "evl"),
        ("ssv2", "evl"),
    ]
    first = table.iloc[0]
    assert (first["top1"], first["top5"], first["clips"], first["crops"]) == (83.9, 96.3, 4, 3)
    assert (table.iloc[2]["clips"], table.iloc[2]["crops"]) == (1, 1)
    assert first["runs"] == [str(fullsup_paths[1])]


@pytest.mark.parametrize(
    ("protocol", "run", "fixture"),
    [
        ("base2novel", "8shot", "run_paths"),
        ("fewshot", "main", "fewshot_paths"),
        ("fullsup", "seed1", "fullsup_paths"),
    ],
)
def test_run_name_must_fit_the_protocol(
    protocol: str, run: str, fixture: str, request: pytest.FixtureRequest
) -> None:
    paths: list[Path] = request.getfixturevalue(fixture)
    edit_record(paths[1], run=run)
    with pytest.raises(MetricsError, match=rf"{paths[1]}: 'run' must be .* for {protocol}, got '{run}'"):
        load_runs(paths, protocol)


def test_file_of_another_protocol_is_named(run_paths: list[Path], fewshot_paths: list[Path]) -> None:
    with pytest.raises(MetricsError, match=rf"{fewshot_paths[0]}: 'protocol' is 'fewshot'"):
        load_runs([*run_paths, fewshot_paths[0]], "base2novel")


def test_missing_key_names_file_and_key(run_paths: list[Path]) -> None:
    broken = run_paths[1]
    record = json.loads(broken.read_text())
    del record["metrics"]["novel"]["top1"]
    broken.write_text(json.dumps(record))
    with pytest.raises(MetricsError, match=rf"{broken}: missing key 'metrics\.novel\.top1'"):
        load_runs(run_paths, "base2novel")


def test_missing_views_names_file_and_key(fullsup_paths: list[Path]) -> None:
    broken = fullsup_paths[0]
    record = json.loads(broken.read_text())
    del record["metrics"]["val"]["views"]["crops"]
    broken.write_text(json.dumps(record))
    with pytest.raises(MetricsError, match=rf"{broken}: missing key 'metrics\.val\.views\.crops'"):
        load_runs(fullsup_paths, "fullsup")


def test_malformed_json_names_file(run_paths: list[Path]) -> None:
    run_paths[2].write_text('{"protocol": "base2novel", ')
    with pytest.raises(MetricsError, match=str(run_paths[2])):
        load_runs(run_paths, "base2novel")


def test_out_of_range_accuracy_is_rejected(tmp_path: Path) -> None:
    path = write_run(tmp_path, "ucf101", "vifi", 1, base=0.85, novel=101.0)
    with pytest.raises(MetricsError, match=r"metrics\.novel\.top1"):
        load_runs([path], "base2novel")


@pytest.mark.parametrize(
    ("protocol", "run", "sets"),
    [
        ("base2novel", "seed1", ("base", "novel")),
        ("fewshot", "8shot-seed1", ("val",)),
        ("zeroshot", "main", ("split1",)),
    ],
)
def test_duplicate_run_is_rejected(tmp_path: Path, protocol: str, run: str, sets: tuple[str, ...]) -> None:
    paths = [
        write_metrics(tmp_path / copy, protocol, "ucf101", "vifi", run, dict.fromkeys(sets, (80.0, 90.0)))
        for copy in ("a", "b")
    ]
    with pytest.raises(MetricsError, match="same run"):
        aggregate_runs(protocol, load_runs(paths, protocol))


def test_aggregate_cli_writes_csv_and_rounded_summary(tmp_path: Path, run_paths: list[Path]) -> None:
    out_csv, out_json = tmp_path / "metrics" / "b2n.csv", tmp_path / "metrics" / "b2n.json"
    argv = ["--protocol", "base2novel", "--out-csv", str(out_csv), "--out-json", str(out_json)]
    assert aggregate_stage.main([*argv, *map(str, run_paths)]) == 0
    summary = json.loads(out_json.read_text())
    assert summary["ucf101"]["vifi"] == {"base": 90.0, "novel": 40.0, "hm": 55.38}
    assert summary["hmdb51"]["text"] == {"base": 60.0, "novel": 30.0, "hm": 40.0}
    back = aggregate.read_aggregate_csv(out_csv)
    assert back.loc[back["method"] == "vifi", "runs"].iloc[0] == [str(p) for p in run_paths[:3]]


@pytest.mark.parametrize(
    ("protocol", "fixture", "entry", "expected"),
    [
        ("zeroshot", "zeroshot_paths", ("k600", "vifi"), {"mean": 55.0, "std": 18.03}),
        ("fewshot", "fewshot_paths", ("ucf101", "vifi", "16"), {"top1": 90.0, "top5": 99.0}),
        ("fullsup", "fullsup_paths", ("ssv2", "evl"), {"top1": 45.5, "top5": 75.25}),
    ],
)
def test_aggregate_cli_writes_every_protocol(
    protocol: str,
    fixture: str,
    entry: tuple[str, ...],
    expected: dict[str, float],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    paths: list[Path] = request.getfixturevalue(fixture)
    out_csv, out_json = tmp_path / "metrics" / f"{protocol}.csv", tmp_path / "metrics" / f"{protocol}.json"
    argv = ["--protocol", protocol, "--out-csv", str(out_csv), "--out-json", str(out_json)]
    assert aggregate_stage.main([*argv, *map(str, paths)]) == 0
    node = json.loads(out_json.read_text())
    for key in entry:
        node = node[key]
    assert node == expected
    back = aggregate.read_aggregate_csv(out_csv, protocol)
    assert len(back) == len(paths)  # one run per row in these protocols
    assert sorted(p for runs in back["runs"] for p in runs) == sorted(map(str, paths))


def test_aggregate_cli_fails_on_broken_file_without_output(
    tmp_path: Path, run_paths: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run_paths[0].write_text("{}")
    out_csv, out_json = tmp_path / "b2n.csv", tmp_path / "b2n.json"
    argv = ["--protocol", "base2novel", "--out-csv", str(out_csv), "--out-json", str(out_json)]
    assert aggregate_stage.main([*argv, *map(str, run_paths)]) == 1
    assert str(run_paths[0]) in capsys.readouterr().err
    assert not out_csv.exists() and not out_json.exists()


def test_base2novel_untrained_method_counts_once(tmp_path: Path) -> None:
    """Vanilla CLIP scores the same on every training subset, so it is evaluated once (`main`), std 0."""
    sets = {"base": (60.0, 100.0), "novel": (50.0, 97.5)}
    path = write_metrics(tmp_path, "base2novel", "ucf101", "vanilla", "main", sets)
    row = aggregate_runs("base2novel", load_runs([path], "base2novel")).iloc[0]
    assert (row["n_seeds"], row["base_mean"], row["base_std"], row["novel_mean"]) == (1, 60.0, 0.0, 50.0)
