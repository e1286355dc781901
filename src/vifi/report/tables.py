"""Render one results table of the paper as LaTeX (booktabs) and HTML, from the aggregated metrics CSVs.

Tables (`TABLES`): base2novel and prompting (base-to-novel), zeroshot, fewshot, fullsup (the K400 role, with
views and compute) and evl_vs_vifi (fully supervised, K400 and SSv2 roles). One table per call, each with its
own template pair `<name>.tex.j2` / `<name>.html.j2`, so that a workflow rule per table re-renders a table only
when its metrics or its templates change.

All decisions about content live here (which rows and columns, display names, rounding, which value is best,
the published value and the difference to it, where links point); the templates only lay the result out, so
the .tex and the .html always show the same numbers. The best value per column within a block is marked, as
in the paper, and is chosen on the printed (rounded) values so that equal-looking numbers are marked alike.
In paper mode every number is shown beside the published one and Δ = ours - published, both on the printed
values, and a Δ beyond the tolerance is flagged. In demo mode nothing is compared: the synthetic stand-ins
have nothing to be compared with.

Every number carries the 95% bootstrap confidence interval of the aggregate table (`vifi.report.bootstrap`): the
HTML shows it on hover (the cell's title); the LaTeX prints it as ± half its width under `--ci`, in place of the
standard deviation over seeds or splits that ± shows otherwise.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import groupby
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from vifi.catalog import methods as method_catalog
from vifi.names import DATASETS, METHODS
from vifi.report.aggregate import MetricsError, read_aggregate_csv
from vifi.report.bootstrap import LEVEL, RESAMPLES
from vifi.report.published import Published

Mode = Literal["demo", "paper"]
MODES: tuple[Mode, ...] = ("demo", "paper")
TEMPLATES = Path(__file__).parent / "templates"
DECIMALS = 1  # the paper prints one decimal
DEFAULT_TOLERANCE = 1.0  # percentage points
# Base-to-novel table column -> (published metric, aggregate column of the mean, of the std); HM is computed
# from the means and has no std of its own.
BASE_TO_NOVEL: Mapping[str, tuple[str, str, str | None]] = {
    "Base": ("base", "base_mean", "base_std"),
    "Novel": ("novel", "novel_mean", "novel_std"),
    "HM": ("hm", "hm", None),
}
TOPK: Mapping[str, str] = {"Top-1": "top1", "Top-5": "top5"}
# How the intervals were made, for the captions.
BOOTSTRAP: Mapping[str, int] = {"level": round(100 * LEVEL), "resamples": RESAMPLES}

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


class RenderError(ValueError):
    """The inputs cannot make the requested table; the message names the file, key or code at fault."""


@dataclass(frozen=True)
class Link:
    """A link from the HTML table to one run's metrics.json, relative to the table's own directory."""

    label: str
    href: str


@dataclass(frozen=True)
class Cell:
    """One number of the table, with the runs it comes from and, in paper mode, the published number.

    `value` is None where no run exists; `std` is None for a single seed or split, whose spread is unknown
    rather than 0; `ci` is the (lo, hi) confidence interval. `delta` is ours - published on the printed values,
    None when either is missing.
    """

    value: float | None
    std: float | None = None
    links: tuple[Link, ...] = ()
    best: bool = False
    published: float | None = None
    delta: float | None = None
    flagged: bool = False
    ci: tuple[float, float] | None = None

    @property
    def half_width(self) -> float | None:
        """Half the width of the confidence interval: what ± prints in place of the std under `--ci`."""
        return None if self.ci is None else (self.ci[1] - self.ci[0]) / 2


@dataclass(frozen=True)
class Column:
    """A numeric column; consecutive columns with the same `group` share a spanning header."""

    label: str
    group: str | None = None


@dataclass(frozen=True)
class Group:
    """A spanning header over `span` columns starting at column index `first`."""

    label: str
    first: int
    span: int


@dataclass(frozen=True)
class Row:
    """One method: its numeric cells in column order, then its text cells (see `Table.info`).

    A text cell is a product, printed with a times sign between its factors (views: clips times crops), or
    None for a dash.
    """

    label: str
    cells: tuple[Cell, ...]
    info: tuple[tuple[str, ...] | None, ...] = ()


@dataclass(frozen=True)
class Block:
    """Rows printed together, e.g. one dataset; `label` is None in tables with a single unlabelled block."""

    label: str | None
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Table:
    """What a template lays out: row-label headers (`stub`), numeric columns, text columns, blocks of rows."""

    stub: tuple[str, ...]
    columns: tuple[Column, ...]
    blocks: tuple[Block, ...]
    info: tuple[str, ...] = ()

    @property
    def groups(self) -> tuple[Group, ...]:
        """Spanning headers, or none when no column is grouped."""
        if all(col.group is None for col in self.columns):
            return ()
        groups, first = [], 0
        for label, members in groupby(col.group for col in self.columns):
            span = len(list(members))
            groups.append(Group(label or "", first, span))
            first += span
        return tuple(groups)

    @property
    def flagged(self) -> bool:
        return any(cell.flagged for block in self.blocks for row in block.rows for cell in row.cells)


@dataclass(frozen=True)
class Context:
    """Everything a table builder needs besides the metrics: names, links, published numbers, compute."""

    link_from: Path
    published: Published | None = None
    tolerance: float = DEFAULT_TOLERANCE
    flops: Mapping[str, float] = field(default_factory=dict)
    dataset_names: Mapping[str, str] = field(default_factory=lambda: DATASETS)
    method_names: Mapping[str, str] = field(default_factory=lambda: METHODS)

    def links(self, runs: Sequence[str]) -> tuple[Link, ...]:
        """Relative links, labelled by run directory (`seed<k>`, `<K>shot`, `main` in the results layout)."""
        return tuple(
            Link(label=Path(run).parent.name, href=quote(Path(os.path.relpath(run, self.link_from)).as_posix()))
            for run in runs
        )

    def cell(
        self,
        value: float | None,
        std: float | None,
        runs: Sequence[str],
        protocol: str,
        key: tuple[str, ...],
        ci: tuple[float, float] | None = None,
    ) -> Cell:
        """A cell with its published counterpart: `key` is (dataset, method, *metric) for `Published.value`."""
        published = self.published.value(protocol, *key) if self.published else None
        delta = None
        if value is not None and published is not None:
            delta = round(round(value, DECIMALS) - published, DECIMALS)
        flagged = delta is not None and abs(delta) > self.tolerance
        return Cell(value, std, self.links(runs), published=published, delta=delta, flagged=flagged, ci=ci)


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters one character at a time, so no replacement is escaped twice."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


def format_number(value: float) -> str:
    """The printed form of every accuracy, in one place so that the best-value choice matches what is shown."""
    return f"{value:.{DECIMALS}f}"


def format_signed(value: float) -> str:
    """A difference, always with its sign."""
    return f"{value:+.{DECIMALS}f}"


def format_gflops(value: float) -> str:
    """Three significant digits, no exponent: 281, 28.1, 0.0352 (demo models are tiny)."""
    return f"{value:.{max(0, 2 - math.floor(math.log10(value)))}f}"


def make_environment(templates: str | Path = TEMPLATES) -> Environment:
    """Jinja environment: autoescape for `*.html.j2` only (LaTeX is escaped by the `tex` filter instead)."""
    env = Environment(
        loader=FileSystemLoader(templates),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["tex"] = latex_escape
    env.filters["num"] = format_number
    env.filters["signed"] = format_signed
    return env


def _ordered(codes: Iterable[str], names: Mapping[str, str], keep: Iterable[str] | None = None) -> list[str]:
    """`codes` in the display order of `names`, optionally restricted to `keep`."""
    present = set(codes) if keep is None else set(codes) & set(keep)
    return [code for code in names if code in present]


def _mark_best(rows: Sequence[Row]) -> tuple[Row, ...]:
    """Mark the highest printed value of each column among `rows` (missing values take no part)."""
    best = [
        max((round(c.value, DECIMALS) for c in column if c.value is not None), default=None)
        for column in zip(*(row.cells for row in rows), strict=True)
    ]
    return tuple(
        replace(
            row,
            cells=tuple(
                replace(c, best=c.value is not None and round(c.value, DECIMALS) == top)
                for c, top in zip(row.cells, best, strict=True)
            ),
        )
        for row in rows
    )


def _ci(record: pd.Series, column: str) -> tuple[float, float]:
    """The confidence interval of an aggregate column, as `vifi aggregate` writes it."""
    return float(record[f"{column}_lo"]), float(record[f"{column}_hi"])


def _index(agg: pd.DataFrame, *keys: str) -> dict[tuple, pd.Series]:
    """Rows of `agg` by their `keys` values; aggregation makes these unique, so a clash is a merging error."""
    index: dict[tuple, pd.Series] = {}
    for _, record in agg.iterrows():
        key = tuple(record[k] for k in keys)
        if key in index:
            raise RenderError(f"two metrics rows for {', '.join(map(str, key))}")
        index[key] = record
    return index


def _base_to_novel(agg: pd.DataFrame, ctx: Context, *, methods: Sequence[str]) -> Table:
    """Blocks per dataset, rows per method: base, novel, HM (mean ± std over the training seeds)."""
    records = _index(agg, "dataset", "method")
    blocks = []
    for dataset in _ordered(agg["dataset"], ctx.dataset_names):
        rows = []
        for method in _ordered((m for d, m in records if d == dataset), ctx.method_names, methods):
            record = records[dataset, method]
            spread = record["n_seeds"] > 1
            cells = tuple(
                ctx.cell(
                    record[mean],
                    record[std] if spread and std is not None else None,
                    record["runs"],
                    "base2novel",
                    (dataset, method, metric),
                    _ci(record, mean),
                )
                for metric, mean, std in BASE_TO_NOVEL.values()
            )
            rows.append(Row(ctx.method_names[method], cells))
        if rows:
            blocks.append(Block(ctx.dataset_names[dataset], _mark_best(rows)))
    return Table(("Dataset", "Method"), tuple(map(Column, BASE_TO_NOVEL)), tuple(blocks))


def _zero_shot(agg: pd.DataFrame, ctx: Context) -> Table:
    """Rows per method, a column per target dataset: mean ± std of top-1 over the test splits."""
    records = _index(agg, "dataset", "method")
    targets = _ordered(agg["dataset"], ctx.dataset_names)
    rows = []
    for method in _ordered(agg["method"], ctx.method_names):
        cells = []
        for target in targets:
            record = records.get((target, method))
            if record is None:
                cells.append(ctx.cell(None, None, (), "zeroshot", (target, method, "top1")))
                continue
            std = record["std"] if record["n_splits"] > 1 else None
            key = (target, method, "top1")
            cells.append(ctx.cell(record["mean"], std, record["runs"], "zeroshot", key, _ci(record, "mean")))
        rows.append(Row(ctx.method_names[method], tuple(cells)))
    columns = tuple(Column(ctx.dataset_names[target]) for target in targets)
    return Table(("Method",), columns, (Block(None, _mark_best(rows)),) if rows else ())


def _few_shot(agg: pd.DataFrame, ctx: Context, *, methods: Sequence[str]) -> Table:
    """Blocks per dataset, rows per method, a column per K: top-1 of the single run at that K."""
    records = _index(agg, "dataset", "method", "shots")
    shots = sorted({int(k) for k in agg["shots"]})
    blocks = []
    for dataset in _ordered(agg["dataset"], ctx.dataset_names):
        rows = []
        for method in _ordered((m for d, m, _ in records if d == dataset), ctx.method_names, methods):
            cells = []
            for k in shots:
                record = records.get((dataset, method, k))
                value, runs, ci = (
                    (None, (), None)
                    if record is None
                    else (record["top1"], record["runs"], _ci(record, "top1"))
                )
                cells.append(ctx.cell(value, None, runs, "fewshot", (dataset, method, "top1", f"k{k}"), ci))
            rows.append(Row(ctx.method_names[method], tuple(cells)))
        if rows:
            blocks.append(Block(ctx.dataset_names[dataset], _mark_best(rows)))
    columns = tuple(Column(f"K={k}", group="Shots per class") for k in shots)
    return Table(("Dataset", "Method"), columns, tuple(blocks))


def _views_and_compute(record: pd.Series, ctx: Context) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """Views as (clips, crops), and compute as (GFLOPs per view, views) where the method's FLOPs were given."""
    clips, crops = int(record["clips"]), int(record["crops"])
    gflops = ctx.flops.get(record["method"])
    return (str(clips), str(crops)), None if gflops is None else (format_gflops(gflops), str(clips * crops))


def _fully_supervised(agg: pd.DataFrame, ctx: Context, *, dataset: str) -> Table:
    """Rows per method on one dataset: top-1, top-5, the views they were measured on and the compute."""
    records = _index(agg, "dataset", "method")
    rows = []
    for method in _ordered((m for d, m in records if d == dataset), ctx.method_names):
        record = records[dataset, method]
        cells = tuple(
            ctx.cell(record[k], None, record["runs"], "fullsup", (dataset, method, k), _ci(record, k))
            for k in TOPK.values()
        )
        rows.append(Row(ctx.method_names[method], cells, _views_and_compute(record, ctx)))
    blocks = (Block(None, _mark_best(rows)),) if rows else ()
    return Table(("Method",), tuple(map(Column, TOPK)), blocks, info=("Views", "GFLOPs"))


def _evl_vs_vifi(agg: pd.DataFrame, ctx: Context, *, datasets: Sequence[str], methods: Sequence[str]) -> Table:
    """Rows per method, top-1 and top-5 per dataset: the two fully supervised models side by side."""
    records = _index(agg, "dataset", "method")
    shown = _ordered(agg["dataset"], ctx.dataset_names, datasets)
    rows = []
    for method in _ordered((m for d, m in records if d in shown), ctx.method_names, methods):
        cells = []
        for dataset in shown:
            record = records.get((dataset, method))
            for k in TOPK.values():
                value, runs, ci = (
                    (None, (), None) if record is None else (record[k], record["runs"], _ci(record, k))
                )
                cells.append(ctx.cell(value, None, runs, "fullsup", (dataset, method, k), ci))
        rows.append(Row(ctx.method_names[method], tuple(cells)))
    columns = tuple(Column(label, group=ctx.dataset_names[d]) for d in shown for label in TOPK)
    return Table(("Method",), columns, (Block(None, _mark_best(rows)),) if rows else ())


@dataclass(frozen=True)
class TableSpec:
    """Which protocol's metrics a table reads and how it is built from them."""

    protocol: str
    build: Callable[[pd.DataFrame, Context], Table]


def table_owners(protocol: str, table: str) -> tuple[str, ...]:
    """The methods a table is made for, from the catalog: a protocol's main table (named like it) is every
    method's without a table of its own there (few-shot: only methods that train, as an untrained one scores the
    same at every K); a method's own table (its entry's `table`, e.g. VL prompting's) is that method's."""
    entries = method_catalog.methods()
    if table == protocol:
        shown = {code: m for code, m in entries.items() if protocol not in m.table}
        return tuple(code for code, m in shown.items() if m.trained or protocol != "fewshot")
    return tuple(code for code, m in entries.items() if m.table.get(protocol) == table)


def table_methods(protocol: str, table: str) -> tuple[str, ...]:
    """The methods a table shows: those it is made for and the methods they are compared with (`versus`)."""
    owners = table_owners(protocol, table)
    versus = [method_catalog.method(code).versus for code in owners]
    return tuple(dict.fromkeys([*(v for v in versus if v and v not in owners), *owners]))


TABLES: Mapping[str, TableSpec] = {
    "base2novel": TableSpec(
        "base2novel", partial(_base_to_novel, methods=table_methods("base2novel", "base2novel"))
    ),
    "prompting": TableSpec(
        "base2novel", partial(_base_to_novel, methods=table_methods("base2novel", "prompting"))
    ),
    "zeroshot": TableSpec("zeroshot", _zero_shot),
    "fewshot": TableSpec("fewshot", partial(_few_shot, methods=table_methods("fewshot", "fewshot"))),
    "fullsup": TableSpec("fullsup", partial(_fully_supervised, dataset="k400")),
    "evl_vs_vifi": TableSpec(
        "fullsup", partial(_evl_vs_vifi, datasets=("k400", "ssv2"), methods=("vifi", "evl"))
    ),
}


def build_table(name: str, agg: pd.DataFrame, ctx: Context) -> Table:
    """The table `name` from its protocol's aggregated metrics; an empty table is an error, not a blank page."""
    unknown = (set(agg["dataset"]) - set(ctx.dataset_names)) | (set(agg["method"]) - set(ctx.method_names))
    if unknown:
        raise RenderError(f"no display name for {', '.join(sorted(unknown))}")
    table = TABLES[name].build(agg, ctx)
    if not table.blocks:
        raise RenderError(f"no rows for table {name!r} in the {TABLES[name].protocol} metrics")
    return table


def render(
    name: str,
    table: Table,
    env: Environment,
    *,
    mode: Mode,
    tolerance: float,
    audit_notes: Sequence[str] = (),
    ci: bool = False,
) -> tuple[str, str]:
    """Return (LaTeX, HTML) of a built table through its template pair; `ci` prints ± intervals in LaTeX."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    context: dict[str, Any] = {
        "name": name, "mode": mode, "table": table, "tolerance": tolerance, "audit_notes": list(audit_notes),
        "ci": ci, "bootstrap": BOOTSTRAP,
    }  # fmt: skip
    return (
        env.get_template(f"{name}.tex.j2").render(context),
        env.get_template(f"{name}.html.j2").render(context),
    )


def read_metrics(paths: Sequence[str | Path], protocol: str) -> pd.DataFrame:
    """One protocol's aggregated CSVs as one table (a workflow may aggregate a protocol in several parts)."""
    frames = []
    for path in paths:
        try:
            frames.append(read_aggregate_csv(path, protocol, intervals=True))
        except MetricsError:
            raise
        except (OSError, ValueError) as err:  # missing file, malformed CSV or run list
            raise RenderError(f"{path}: cannot read {protocol} metrics CSV: {err}") from err
    return pd.concat(frames, ignore_index=True)


def read_audit_notes(paths: Sequence[str | Path]) -> list[str]:
    """One note per release audit (`vifi audit`, data/splits/<dataset>/<protocol>/audit.json) that found list
    ids disagreeing with the classes their videos name while the lists were kept as released: the table's
    numbers were then measured with those ids, as the published ones were."""
    notes = []
    for path in paths:
        try:
            report = json.loads(Path(path).read_text(encoding="utf-8"))
            disagreeing, policy, summary = report["totals"]["disagreeing"], report["policy"], report["summary"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
            raise RenderError(f"{path}: cannot read the release audit: {err}") from err
        if disagreeing and policy == "as_released":
            dataset = Path(path).parent.parent.name
            notes.append(f"{DATASETS.get(dataset, dataset)}, lists as released: {summary}")
    return notes


def read_flops(path: str | Path) -> dict[str, float]:
    """`{method code: GFLOPs per view}`; a method not in the file shows "—" in the compute column."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise RenderError(f"{path}: cannot read FLOPs JSON: {err}") from err
    if not isinstance(data, dict):
        raise RenderError(f"{path}: expected {{method: GFLOPs per view}}, got {type(data).__name__}")
    for method, value in data.items():
        if method not in METHODS:
            raise RenderError(f"{path}: unknown method {method!r}; known: {', '.join(METHODS)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise RenderError(f"{path}: '{method}' must be a positive GFLOPs figure, got {value!r}")
    return {method: float(value) for method, value in data.items()}
