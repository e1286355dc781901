"""Figures: the drawn values match the inputs, every kind renders PDF + PNG, bad inputs name their file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.container import BarContainer

from vifi.embeddings import Embeddings, save_embeddings
from vifi.report import figures
from vifi.report.aggregate import write_aggregate_csv
from vifi.stages import figures as figures_stage

SHOTS = (2, 4, 8, 16)


def fewshot_table() -> pd.DataFrame:
    """Two datasets x two methods x four K, with distinct accuracies per line."""
    rows = [
        {
            "dataset": d,
            "method": m,
            "shots": k,
            "top1": 10 * i + 5 * j + k,
            "top5": 90.0,
            "n_seeds": 1,
            "runs": [f"{d}/{m}/{k}"],
        }
        for i, d in enumerate(("hmdb51", "ucf101"))
        for j, m in enumerate(("vanilla", "vifi"))
        for k in SHOTS
    ]
    return pd.DataFrame(rows)


def base2novel_table() -> pd.DataFrame:
    """One dataset: vanilla has one run (no spread), ViFi-CLIP three seeds."""
    return pd.DataFrame(
        [
            {"dataset": "ucf101", "method": "vanilla", "n_seeds": 1, "base_mean": 60.0, "base_std": 0.0,
             "novel_mean": 55.0, "novel_std": 0.0, "hm": 57.4, "runs": ["a"]},
            {"dataset": "ucf101", "method": "vifi", "n_seeds": 3, "base_mean": 90.0, "base_std": 2.0,
             "novel_mean": 70.0, "novel_std": 3.0, "hm": 78.8, "runs": ["b", "c", "d"]},
        ]
    )  # fmt: skip


def clustered(n: int, classes: int, seed: int) -> Embeddings:
    """Unit vectors around one centre per class, labels cycling through the classes."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    vectors = rng.normal(size=(classes, 16))[labels] + 0.1 * rng.normal(size=(n, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    names = tuple(f"class {c}" for c in range(classes))
    return Embeddings(vectors, labels, names, tuple(f"v{i}.mp4" for i in range(n)))


def write_log(path: Path, steps: int, scale: float) -> pd.DataFrame:
    log = pd.DataFrame(
        {
            "epoch": np.arange(steps) // 5,
            "step": np.arange(steps),
            "loss": scale * np.linspace(3, 1, steps),
            "lr": np.linspace(0, 1e-5, steps),
        }
    )
    path.parent.mkdir(parents=True)
    log.to_csv(path, index=False)
    return log


def render(tmp_path: Path, *args: str) -> tuple[int, Path, Path]:
    pdf, png = tmp_path / "out" / "fig.pdf", tmp_path / "out" / "fig.png"
    code = figures_stage.main([*args, "--mode", "demo", "--out-pdf", str(pdf), "--out-png", str(png)])
    return code, pdf, png


def assert_rendered(pdf: Path, png: Path) -> None:
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 1000
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 1000
    assert sorted(p.name for p in pdf.parent.iterdir()) == ["fig.pdf", "fig.png"], "no temp files left"


def test_fewshot_has_a_line_per_method_with_the_accuracy_at_each_k(tmp_path: Path) -> None:
    csv = tmp_path / "fewshot.csv"
    table = fewshot_table()
    write_aggregate_csv(csv, table)
    fig = figures.fewshot_figure(figures.read_table(csv, "fewshot"), "demo")
    assert "synthetic demo" in fig.get_suptitle()
    assert [ax.get_title() for ax in fig.axes] == ["HMDB-51", "UCF-101"]
    for ax, dataset in zip(fig.axes, ("hmdb51", "ucf101"), strict=True):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert sorted(lines) == ["Vanilla CLIP", "ViFi-CLIP"]
        for method, name in (("vanilla", "Vanilla CLIP"), ("vifi", "ViFi-CLIP")):
            expected = table[(table["dataset"] == dataset) & (table["method"] == method)]
            np.testing.assert_array_equal(np.asarray(lines[name].get_xdata()), SHOTS)
            np.testing.assert_allclose(np.asarray(lines[name].get_ydata()), expected["top1"])

    code, pdf, png = render(tmp_path, "--kind", "fewshot", "--metrics", str(csv))
    assert code == 0
    assert_rendered(pdf, png)


def test_base2novel_bars_and_error_bars_only_where_seeds_vary(tmp_path: Path) -> None:
    csv = tmp_path / "base2novel.csv"
    write_aggregate_csv(csv, base2novel_table())
    fig = figures.base2novel_figure(figures.read_table(csv, "base2novel"), "paper")
    assert "synthetic" not in fig.get_suptitle()
    (ax,) = fig.axes
    heights = [[bar.get_height() for bar in c] for c in ax.containers if isinstance(c, BarContainer)]
    assert heights == [[60.0, 90.0], [55.0, 70.0], [57.4, 78.8]]  # base, novel, HM; vanilla then ViFi-CLIP
    spans = [seg[:, 1] for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()]
    assert sorted(tuple(s) for s in spans) == [(67.0, 73.0), (88.0, 92.0)], "one bar per std, ViFi-CLIP only"

    code, pdf, png = render(tmp_path, "--kind", "base2novel", "--metrics", str(csv))
    assert code == 0
    assert_rendered(pdf, png)


def test_tsne_has_one_scatter_of_n_points_per_model_coloured_alike(tmp_path: Path) -> None:
    paths = {"vanilla": tmp_path / "vanilla.npz", "vifi": tmp_path / "vifi.npz"}
    for seed, path in enumerate(paths.values()):
        save_embeddings(path, clustered(12, 3, seed))  # 12 points: perplexity 30 must be clipped
    fig = figures.tsne_figure(figures.read_embeddings(paths), "demo", seed=0)
    assert [ax.get_title() for ax in fig.axes] == ["Vanilla CLIP (12 videos)", "ViFi-CLIP (12 videos)"]
    colours = []
    for ax in fig.axes:
        (scatter,) = ax.collections
        assert scatter.get_offsets().shape == (12, 2)
        colours.append(scatter.get_facecolors())
    np.testing.assert_array_equal(colours[0], colours[1])  # same labels, same colours in both panels
    assert len({tuple(c) for c in colours[0]}) == 3
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["class 0", "class 1", "class 2"]

    args = ["--kind", "tsne", "--embeddings", *(f"{k}={v}" for k, v in paths.items())]
    code, pdf, png = render(tmp_path, *args)
    assert code == 0
    assert_rendered(pdf, png)


def test_curves_have_a_line_per_run_named_by_its_directory(tmp_path: Path) -> None:
    runs = tmp_path / "results/runs/base2novel/ucf101"
    paths = [runs / "vifi/seed1/train_log.csv", runs / "image/seed1/train_log.csv"]
    logs = [write_log(paths[0], 10, 1.0), write_log(paths[1], 8, 2.0)]
    fig = figures.curves_figure({figures.run_label(p): figures.read_log(p) for p in paths}, "demo")
    loss, lr = fig.axes
    for ax, column in ((loss, "loss"), (lr, "lr")):
        lines = ax.get_lines()
        assert [line.get_label() for line in lines] == [
            "base2novel/ucf101/vifi/seed1",
            "base2novel/ucf101/image/seed1",
        ]
        for line, log in zip(lines, logs, strict=True):
            np.testing.assert_allclose(np.asarray(line.get_ydata()), log[column])

    code, pdf, png = render(tmp_path, "--kind", "curves", "--logs", *map(str, paths))
    assert code == 0
    assert_rendered(pdf, png)


def test_bad_inputs_are_errors_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    no_top1 = tmp_path / "no_top1.csv"
    write_aggregate_csv(no_top1, fewshot_table().drop(columns="top1"))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    header_only = tmp_path / "header.csv"
    header_only.write_text("epoch,step,loss,lr\n")
    no_lr = tmp_path / "no_lr.csv"
    no_lr.write_text("epoch,step,loss\n0,0,1.0\n")
    cases = [
        (["--kind", "fewshot", "--metrics", str(no_top1)], "no_top1.csv: missing columns top1"),
        (["--kind", "base2novel", "--metrics", str(empty)], "empty.csv: empty CSV"),
        (["--kind", "curves", "--logs", str(empty)], "empty.csv: empty CSV"),
        (["--kind", "curves", "--logs", str(header_only)], "header.csv: no steps logged"),
        (["--kind", "curves", "--logs", str(no_lr)], "no_lr.csv: missing columns lr"),
        (["--kind", "tsne", "--embeddings", f"a={empty}", f"b={empty}"], "empty.csv: cannot read embeddings"),
    ]
    for args, message in cases:
        code, pdf, _ = render(tmp_path, *args)
        assert code == 1 and message in capsys.readouterr().err, args
        assert not pdf.exists()


def test_tsne_inputs_must_share_classes_and_be_two_or_more(tmp_path: Path) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    save_embeddings(a, clustered(6, 3, 0))
    save_embeddings(b, clustered(6, 2, 0))
    with pytest.raises(figures.FigureError, match=r"b\.npz: class names differ"):
        figures.read_embeddings({"vanilla": a, "vifi": b})
    with pytest.raises(figures.FigureError, match="two or more"):
        figures.read_embeddings({"vanilla": a})
    with pytest.raises(figures.FigureError, match="NAME=FILE"):
        figures.parse_embedding_args([str(a)])
    np.savez(tmp_path / "partial.npz", embeddings=np.eye(2))
    with pytest.raises(figures.FigureError, match=r"partial\.npz: missing array\(s\) labels, classnames, keys"):
        figures.read_embeddings({"vanilla": tmp_path / "partial.npz", "vifi": a})
