"""Render the report's figures as PDF (for the paper) and PNG (for the HTML index).

One kind of figure per call:

- `fewshot`: top-1 accuracy against K shots, a subplot per dataset and a line per method;
- `base2novel`: grouped bars of base, novel and HM accuracy per method, a subplot per dataset, with the std
  over seeds as error bars where there is more than one seed;
- `tsne`: t-SNE maps of video embeddings side by side, points coloured by class: the paper's main figure,
  vanilla CLIP against ViFi-CLIP, from the files of `vifi embed`;
- `curves`: training loss and learning rate per step, a line per run.

Each kind has a function that builds a `matplotlib.figure.Figure` and the CLI only saves it, so tests can
inspect the drawn values. Figures are drawn on an explicit Agg canvas, never through pyplot, so rendering
needs no display and keeps no global figure state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from threadpoolctl import threadpool_limits

from vifi.embeddings import Embeddings, EmbeddingsError, load_embeddings
from vifi.io import atomic_path
from vifi.names import DATASETS, METHODS
from vifi.report.aggregate import MetricsError, read_aggregate_csv
from vifi.report.tables import Mode

KINDS = ("fewshot", "base2novel", "tsne", "curves")
INPUT = {"fewshot": "metrics", "base2novel": "metrics", "tsne": "embeddings", "curves": "logs"}  # flag per kind
LOG_COLUMNS = ("epoch", "step", "loss", "lr")
BARS = (("base_mean", "base_std", "Base"), ("novel_mean", "novel_std", "Novel"), ("hm", None, "HM"))
STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "figure.titlesize": 13,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "pdf.fonttype": 42,  # TrueType in the PDF: text stays text, selectable and editable
}
PANEL = (4.5, 3.6)  # inches per subplot
PERPLEXITY = 30.0
MAX_LEGEND_CLASSES = 20  # beyond this a class legend is unreadable; colours alone still show the clusters
DPI = 150


class FigureError(ValueError):
    """An input of a figure is missing, empty or malformed; the message names the file."""


def _figure(panels: int, title: str, mode: Mode) -> tuple[Figure, np.ndarray]:
    """An Agg-backed figure of `panels` side by side, titled, saying so when its data is synthetic."""
    fig = Figure(figsize=(PANEL[0] * panels, PANEL[1] + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, panels, squeeze=False)
    fig.suptitle(f"{title} (synthetic demo)" if mode == "demo" else title)
    return fig, axes.ravel()


def _name(mapping: Mapping[str, str], code: str) -> str:
    return mapping.get(code, code)


def _colour(method: str) -> str:
    """One colour per method in every panel and figure, by its place in the methods' display order."""
    return f"C{list(METHODS).index(method) % 10}" if method in METHODS else "k"


def read_table(path: str | Path, protocol: str) -> pd.DataFrame:
    """An aggregate CSV with at least one row, its errors naming the file."""
    try:
        table = read_aggregate_csv(path, protocol)
    except pd.errors.EmptyDataError as err:
        raise FigureError(f"{path}: empty CSV, expected the {protocol} aggregate table") from err
    except MetricsError as err:
        raise FigureError(str(err)) from err
    except OSError as err:
        raise FigureError(f"{path}: {err}") from err
    if table.empty:
        raise FigureError(f"{path}: no rows in the {protocol} aggregate table")
    return table


def fewshot_figure(table: pd.DataFrame, mode: Mode) -> Figure:
    """Top-1 against K on a log2 axis (K doubles: 2, 4, 8, 16), one panel per dataset, one line per method."""
    datasets = list(dict.fromkeys(table["dataset"]))
    with mpl.rc_context(STYLE):
        fig, axes = _figure(len(datasets), "Few-shot top-1 accuracy", mode)
        for ax, (dataset, rows) in zip(axes, table.groupby("dataset", sort=False), strict=True):
            for method, runs in rows.groupby("method", sort=False):
                runs = runs.sort_values("shots")
                ax.plot(
                    runs["shots"], runs["top1"], marker="o", color=_colour(method), label=_name(METHODS, method)
                )
            shots = sorted(rows["shots"].unique())
            ax.set_xscale("log", base=2)
            ax.set_xticks(shots, [str(k) for k in shots])
            ax.minorticks_off()
            ax.set(title=_name(DATASETS, dataset), xlabel="shots per class (K)", ylabel="top-1 accuracy (%)")
            ax.legend()
    return fig


def _bar_group(ax: Axes, rows: pd.DataFrame) -> None:
    """Base, novel and HM bars side by side for each method; error bars only where seeds give a spread."""
    x = np.arange(len(rows))
    width = 0.8 / len(BARS)
    several = rows["n_seeds"].to_numpy() > 1
    for i, (mean, std, label) in enumerate(BARS):
        pos = x + (i - (len(BARS) - 1) / 2) * width
        ax.bar(pos, rows[mean], width, label=label, color=f"C{i}")
        if std is not None and several.any():
            ax.errorbar(
                pos[several],
                rows[mean].to_numpy()[several],
                rows[std].to_numpy()[several],
                fmt="none",
                ecolor="k",
                capsize=3,
            )
    ax.set_xticks(x, [_name(METHODS, m) for m in rows["method"]], rotation=30, ha="right")


def base2novel_figure(table: pd.DataFrame, mode: Mode) -> Figure:
    """Base, novel and HM top-1 per method, one panel per dataset, error bars = std over seeds."""
    datasets = list(dict.fromkeys(table["dataset"]))
    with mpl.rc_context(STYLE):
        fig, axes = _figure(len(datasets), "Base-to-novel generalisation", mode)
        for ax, (dataset, rows) in zip(axes, table.groupby("dataset", sort=False), strict=True):
            _bar_group(ax, rows.reset_index(drop=True))
            ax.set(title=_name(DATASETS, dataset), ylabel="top-1 accuracy (%)", ylim=(0, 100))
            ax.grid(axis="x", visible=False)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(BARS))
    return fig


def parse_embedding_args(values: Sequence[str]) -> dict[str, Path]:
    """`NAME=FILE` pairs in the given order (the panels' order), names unique."""
    pairs: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise FigureError(f"--embeddings expects NAME=FILE, got {value!r}")
        if name in pairs:
            raise FigureError(f"--embeddings names {name!r} twice")
        pairs[name] = Path(path)
    return pairs


def read_embeddings(paths: Mapping[str, Path]) -> dict[str, Embeddings]:
    """Each model's embeddings; all share one class list, so a colour means one class in every panel."""
    if len(paths) < 2:
        raise FigureError(f"the t-SNE figure compares two or more models, got {len(paths)}")
    embeddings = {}
    for name, path in paths.items():
        try:
            embeddings[name] = load_embeddings(path)
        except EmbeddingsError as err:
            raise FigureError(str(err)) from err
    (first, ref), *rest = paths.items()
    for name, path in rest:
        if embeddings[name].classnames != embeddings[first].classnames:
            raise FigureError(f"{path}: class names differ from those of {ref}")
    return embeddings


def tsne_map(vectors: np.ndarray, perplexity: float, seed: int, threads: int = 1) -> np.ndarray:
    """2-D t-SNE coordinates; perplexity is clipped below N, which scikit-learn requires.

    The OpenMP threads are capped: on cores shared with other jobs, t-SNE's spinning worker threads run
    about 30x slower than one thread (0.2 s against 6 s for 12 points on 2 busy cores).
    """
    from sklearn.manifold import TSNE  # here, not at the top: every other figure job would pay its import

    n = len(vectors)
    if n < 2:
        raise FigureError(f"t-SNE needs at least 2 videos, got {n}")
    tsne = TSNE(n_components=2, perplexity=min(perplexity, n - 1.0), init="pca", random_state=seed)
    with threadpool_limits(threads):
        return tsne.fit_transform(vectors)


def _class_colours(k: int) -> np.ndarray:
    """K distinguishable colours: tab10/tab20 where they suffice, an even sweep of turbo beyond."""
    if k <= 10:
        return mpl.colormaps["tab10"](np.arange(k))
    if k <= 20:
        return mpl.colormaps["tab20"](np.arange(k))
    return mpl.colormaps["turbo"](np.linspace(0, 1, k))


def tsne_figure(
    embeddings: Mapping[str, Embeddings],
    mode: Mode,
    perplexity: float = PERPLEXITY,
    seed: int = 0,
    threads: int = 1,
) -> Figure:
    """One t-SNE panel per model (one scatter of its N videos), coloured by class, shared class legend."""
    classnames = next(iter(embeddings.values())).classnames
    colours = _class_colours(len(classnames))
    with mpl.rc_context(STYLE):
        fig, axes = _figure(len(embeddings), "t-SNE of video embeddings", mode)
        for ax, (name, emb) in zip(axes, embeddings.items(), strict=True):
            xy = tsne_map(emb.vectors, perplexity, seed, threads)
            ax.scatter(xy[:, 0], xy[:, 1], c=colours[emb.labels], s=14, linewidths=0)
            ax.set(title=f"{_name(METHODS, name)} ({len(xy)} videos)", xticks=[], yticks=[])
            ax.grid(visible=False)
        if len(classnames) <= MAX_LEGEND_CLASSES:
            handles = [
                Line2D([], [], marker="o", linestyle="", color=colours[i], label=c)
                for i, c in enumerate(classnames)
            ]
            fig.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)))
    return fig


def run_label(path: Path) -> str:
    """A run's name from its directory, `protocol/dataset/method/run` in `results/runs/...`."""
    return "/".join(path.parent.parts[-4:])


def read_log(path: Path) -> pd.DataFrame:
    """A `train_log.csv` with its four columns and at least one step, its errors naming the file."""
    try:
        log = pd.read_csv(path)
    except pd.errors.EmptyDataError as err:
        raise FigureError(f"{path}: empty CSV, expected columns {', '.join(LOG_COLUMNS)}") from err
    except OSError as err:
        raise FigureError(f"{path}: {err}") from err
    missing = [col for col in LOG_COLUMNS if col not in log.columns]
    if missing:
        raise FigureError(f"{path}: missing columns {', '.join(missing)}")
    if log.empty:
        raise FigureError(f"{path}: no steps logged")
    return log


def curves_figure(logs: Mapping[str, pd.DataFrame], mode: Mode) -> Figure:
    """Loss and learning rate against step, one line per run, on two panels sharing the step axis."""
    with mpl.rc_context(STYLE):
        fig, (loss, lr) = _figure(2, "Training curves", mode)
        for label, log in logs.items():
            loss.plot(log["step"], log["loss"], label=label, linewidth=1)
            lr.plot(log["step"], log["lr"], label=label, linewidth=1)
        loss.set(title="loss", xlabel="step", ylabel="training loss")
        lr.set(title="learning rate", xlabel="step", ylabel="learning rate")
        lr.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        fig.legend(*loss.get_legend_handles_labels(), loc="outside lower center", ncols=min(3, len(logs)))
    return fig


def save_figure(fig: Figure, pdf: Path, png: Path) -> None:
    """Write the figure as PDF and PNG, each atomically (the temp's suffix is not a format, so name it)."""
    with mpl.rc_context(STYLE):
        for path, fmt in ((pdf, "pdf"), (png, "png")):
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=DPI)


def build_figure(
    kind: str,
    mode: Mode,
    *,
    metrics: Path | None = None,
    embeddings: Sequence[str] = (),
    perplexity: float = PERPLEXITY,
    seed: int = 0,
    threads: int = 1,
    logs: Sequence[Path] = (),
) -> Figure:
    """The figure of `kind` from its inputs: `metrics` (fewshot, base2novel), `embeddings` as NAME=NPZ (tsne,
    with `perplexity`, `seed` and `threads`) or `logs` (curves)."""
    if kind in ("fewshot", "base2novel"):
        builder = fewshot_figure if kind == "fewshot" else base2novel_figure
        return builder(read_table(metrics, kind), mode)
    if kind == "tsne":
        return tsne_figure(read_embeddings(parse_embedding_args(embeddings)), mode, perplexity, seed, threads)
    return curves_figure({run_label(path): read_log(path) for path in logs}, mode)
