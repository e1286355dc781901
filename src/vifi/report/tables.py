"""Render the aggregated base-to-novel results as a LaTeX (booktabs) table and an HTML table.

All decisions about content live here (display names, rounding, which value is best, where links point); the
Jinja templates only lay the result out, so the .tex and the .html always show the same numbers. The best mean
per column within a dataset is marked, as in the paper, and is chosen on the printed (rounded) values so that
equal-looking numbers are marked alike.

Usage: python -m vifi render --metrics results/metrics/base2novel.csv --mode demo \\
           --out-tex results/tables/base2novel.tex --out-html results/tables/base2novel.html
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from vifi.io import write_text
from vifi.names import DATASETS, METHODS
from vifi.report.aggregate import read_aggregate_csv

Mode = Literal["demo", "paper"]
MODES: tuple[Mode, ...] = ("demo", "paper")
TEMPLATES = Path(__file__).parent / "templates"
DECIMALS = 1  # the paper prints one decimal
# Table column -> (aggregate column of the mean, of the std); HM is computed from means and has no std.
COLUMNS: dict[str, tuple[str, str | None]] = {
    "base": ("base_mean", "base_std"),
    "novel": ("novel_mean", "novel_std"),
    "hm": ("hm", None),
}

# {dataset code: {method code: {"base"|"novel"|"hm": percent}}}, the shape of aggregate's JSON summary.
Published = Mapping[str, Mapping[str, Mapping[str, float]]]

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


@dataclass(frozen=True)
class Cell:
    """One number of the table; `std` is None for a single seed, whose spread is unknown rather than 0."""

    mean: float
    std: float | None
    best: bool


@dataclass(frozen=True)
class Link:
    """A link from the HTML table to one run's metrics.json, relative to the table's own directory."""

    label: str
    href: str


@dataclass(frozen=True)
class Row:
    """One method within a dataset block, with the runs its numbers average over."""

    method: str
    base: Cell
    novel: Cell
    hm: Cell
    runs: tuple[Link, ...]


@dataclass(frozen=True)
class Block:
    """One dataset: its display name and its method rows, in display order."""

    dataset: str
    rows: tuple[Row, ...]


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters one character at a time, so no replacement is escaped twice."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


def format_number(value: float) -> str:
    """The printed form of every number, in one place so that the best-value choice matches what is shown."""
    return f"{value:.{DECIMALS}f}"


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
    return env


def _run_links(runs: Sequence[str], link_from: Path) -> tuple[Link, ...]:
    """Relative links, labelled by run directory (`seed<k>` in the results layout)."""
    return tuple(
        Link(label=Path(run).parent.name, href=quote(Path(os.path.relpath(run, link_from)).as_posix()))
        for run in runs
    )


def _best_means(group: pd.DataFrame) -> dict[str, float]:
    """Highest printed mean per column within one dataset."""
    return {col: group[mean].map(lambda v: round(v, DECIMALS)).max() for col, (mean, _) in COLUMNS.items()}


def _row(record: pd.Series, best: Mapping[str, float], method_names: Mapping[str, str], link_from: Path) -> Row:
    """Table row of one (dataset, method); std is shown only when there are seeds to spread over."""
    has_spread = record["n_seeds"] > 1
    cells = {
        col: Cell(
            mean=record[mean],
            std=record[std] if has_spread and std is not None else None,
            best=round(record[mean], DECIMALS) == best[col],
        )
        for col, (mean, std) in COLUMNS.items()
    }
    return Row(method=method_names[record["method"]], runs=_run_links(record["runs"], link_from), **cells)


def build_blocks(
    agg: pd.DataFrame,
    *,
    link_from: str | Path,
    dataset_names: Mapping[str, str] = DATASETS,
    method_names: Mapping[str, str] = METHODS,
) -> list[Block]:
    """One block per dataset, datasets and methods in the order of the name mappings."""
    unknown = (set(agg["dataset"]) - set(dataset_names)) | (set(agg["method"]) - set(method_names))
    if unknown:
        raise ValueError(f"no display name for {', '.join(sorted(unknown))}")
    link_from = Path(link_from)
    method_rank = {code: i for i, code in enumerate(method_names)}
    blocks = []
    for code, name in dataset_names.items():
        group = agg[agg["dataset"] == code].sort_values("method", key=lambda col: col.map(method_rank))
        if group.empty:
            continue
        best = _best_means(group)
        rows = tuple(_row(record, best, method_names, link_from) for _, record in group.iterrows())
        blocks.append(Block(dataset=name, rows=rows))
    return blocks


def render_base2novel(
    agg: pd.DataFrame,
    env: Environment,
    *,
    mode: Mode,
    link_from: str | Path,
    published: Published | None = None,
    dataset_names: Mapping[str, str] = DATASETS,
    method_names: Mapping[str, str] = METHODS,
) -> tuple[str, str]:
    """Return (LaTeX, HTML). `published` is the hook for the paper-mode comparison; empty, nothing shows."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    context = {
        "mode": mode,
        "blocks": build_blocks(
            agg, link_from=link_from, dataset_names=dataset_names, method_names=method_names
        ),
        "published": published or {},
    }
    tex = env.get_template("base2novel.tex.j2").render(context)
    html = env.get_template("base2novel.html.j2").render(context)
    return tex, html


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vifi render", description="Render the base-to-novel LaTeX and HTML tables."
    )
    parser.add_argument("--metrics", type=Path, required=True, help="CSV written by `vifi aggregate`")
    parser.add_argument("--templates", type=Path, default=TEMPLATES, help="directory of the .j2 templates")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--out-tex", type=Path, required=True)
    parser.add_argument("--out-html", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Render both tables; links in the HTML are relative to `--out-html`'s directory."""
    args = _parser().parse_args(argv)
    agg = read_aggregate_csv(args.metrics)
    tex, html = render_base2novel(
        agg, make_environment(args.templates), mode=args.mode, link_from=args.out_html.parent
    )
    write_text(args.out_tex, tex)
    write_text(args.out_html, html)
    return 0


if __name__ == "__main__":
    sys.exit(main())
