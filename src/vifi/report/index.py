"""Build `results/index.html`: every table, figure and the provenance of every run on one self-contained page.

Everything the page shows is inside the file (inline CSS, the HTML tables inlined, the PNG figures as base64
data URIs), so it reads the same when opened from a CI artefact, an e-mail or another directory. Its only
links are the tables' links to the runs' metrics.json, rebased from the table's directory to the page's, and
the run list's own links: they work where the page sits beside the runs it reports.

The tables are inlined through a sanitising pass: whatever page or fragment `vifi render` wrote, only its body
content is kept, its styles and scripts are dropped (the page's own CSS lays every table out alike), and its
relative links are rebased. A table file without a <table> is an error, not an empty section.

The provenance section answers "what produced these numbers" from the runs' own records: the commits, package
versions and devices seen across runs (more than one of a kind is visible at a glance), and per run a digest
of its parameters, so that two runs with the same digest are known to share every setting.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import posixpath
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from vifi.names import DATASETS
from vifi.report.tables import MODES, TEMPLATES, Mode

TABLE_TITLES = {
    "zeroshot": "Zero-shot transfer",
    "base2novel": "Base-to-novel generalisation",
    "prompting": "Base-to-novel: ViFi-CLIP and VL prompting",
    "fewshot": "Few-shot learning",
    "fullsup": "Fully supervised training",
    "evl_vs_vifi": "EVL against ViFi-CLIP",
    "findings": "Findings: which of the papers' claims hold",
    "audit_effect": "Release audit: every evaluation as released and by name",
}
FIGURES = {  # kind -> (title, caption); a file is named `<kind>` or `<kind>_<protocol or dataset>`
    "base2novel": (
        "Base-to-novel accuracy",
        "Base, novel and harmonic-mean top-1 accuracy per method and dataset, with the spread over training "
        "seeds as error bars where there is more than one seed.",
    ),
    "fewshot": (
        "Few-shot accuracy",
        "Top-1 accuracy against the number of training examples per class (K), one panel per dataset and one "
        "line per method.",
    ),
    "tsne": (
        "Video embeddings",
        "t-SNE maps of the zero-shot video embeddings of one target dataset (split 1), vanilla CLIP against "
        "ViFi-CLIP fine-tuned on the source dataset, points coloured by class.",
    ),
    "curves": ("Training curves", "Training loss and learning rate per optimiser step, one line per run."),
}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PROVENANCE_KEYS = ("git_commit", "packages", "params", "device")
RUN_KEYS = ("protocol", "dataset", "method", "run")
DIGEST_CHARS = 12
DROPPED = frozenset({"head", "style", "script", "template", "noscript"})  # with their content
UNWRAPPED = frozenset({"html", "body"})  # their content is kept
EXTERNAL = frozenset({"link", "meta", "base"})  # void elements that would pull in or redirect resources
LINK_ATTRS = frozenset({"href", "src"})


class PageError(ValueError):
    """An input of the page is missing or malformed; the message names the file and, for JSON, the key."""


def rebase(url: str, source_dir: str) -> str:
    """A relative `url` written in a file in `source_dir` (relative to the page), made relative to the page.

    Absolute URLs, absolute paths and same-document anchors are returned unchanged.
    """
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path or parts.path.startswith("/"):
        return url
    path = posixpath.normpath(posixpath.join(source_dir, parts.path))
    return urlunsplit(("", "", path, parts.query, parts.fragment))


class _Inliner(HTMLParser):
    """Re-serialise an HTML table file's body content, dropping styles and scripts and rebasing links."""

    def __init__(self, source_dir: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source_dir = source_dir
        self.out: list[str] = []
        self.skipping: list[str] = []  # open dropped elements
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping or tag in DROPPED:
            if tag in DROPPED:
                self.skipping.append(tag)
            return
        if tag in UNWRAPPED or tag in EXTERNAL:
            return
        if tag == "table":
            self.tables += 1
        self.out.append(f"<{tag}{''.join(self._attr(name, value) for name, value in attrs)}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in DROPPED:
            self.skipping.pop()

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag == self.skipping[-1]:
                self.skipping.pop()
            return
        if tag not in UNWRAPPED:
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(html.escape(data, quote=False))

    def _attr(self, name: str, value: str | None) -> str:
        if value is None:
            return f" {name}"
        if name in LINK_ATTRS:
            value = rebase(value, self.source_dir)
        return f' {name}="{html.escape(value)}"'


def inline_table(path: Path, page_dir: Path) -> Markup:
    """The body content of the HTML table file `path`, safe to inline in a page written to `page_dir`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PageError(f"{path}: cannot read HTML table: {err}") from err
    inliner = _Inliner(Path(os.path.relpath(path.parent, page_dir)).as_posix())
    inliner.feed(text)
    inliner.close()
    if not inliner.tables:
        raise PageError(f"{path}: no <table> element")
    return Markup("".join(inliner.out).strip())


def png_data_uri(path: Path) -> str:
    """The PNG file `path` as a data URI, so that the page needs no file beside it to show the figure."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise PageError(f"{path}: cannot read figure: {err}") from err
    if not data.startswith(PNG_SIGNATURE):
        raise PageError(f"{path}: not a PNG file")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def params_digest(params: Any) -> str:
    """A short digest of a run's parameters: equal digests mean equal settings, whatever the key order."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:DIGEST_CHARS]


@dataclass(frozen=True)
class Run:
    """One run's identity and provenance, with the link to its metrics.json from the page."""

    protocol: str
    dataset: str
    method: str
    run: str
    href: str
    git_commit: str
    packages: Mapping[str, str]
    params_digest: str
    device: str
    created: str


def _require(data: Mapping[str, Any], keys: Iterable[str], path: Path, where: str = "") -> None:
    missing = [key for key in keys if key not in data]
    if missing:
        raise PageError(f"{path}: missing key(s) {', '.join(where + key for key in missing)}")


def read_run(path: Path, page_dir: Path) -> Run:
    """A run's provenance from its metrics.json (`vifi evaluate` writes it under the key "provenance")."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PageError(f"{path}: cannot read run metrics: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("provenance"), dict):
        raise PageError(f"{path}: missing key(s) provenance")
    _require(data, RUN_KEYS, path)
    prov = data["provenance"]
    _require(prov, PROVENANCE_KEYS, path, "provenance.")
    if not isinstance(prov["packages"], dict):
        raise PageError(f"{path}: provenance.packages must map package names to versions")
    return Run(
        *(str(data[key]) for key in RUN_KEYS),
        href=quote(Path(os.path.relpath(path, page_dir)).as_posix()),
        git_commit=str(prov["git_commit"]),
        packages={str(name): str(version) for name, version in prov["packages"].items()},
        params_digest=params_digest(prov["params"]),
        device=str(prov["device"]),
        created=str(prov.get("created", "")),
    )


@dataclass(frozen=True)
class Provenance:
    """What produced the page's numbers, summarised over runs: each value with the number of runs showing it."""

    commits: tuple[tuple[str, int], ...]
    packages: tuple[tuple[str, tuple[tuple[str, int], ...]], ...]
    devices: tuple[tuple[str, int], ...]
    runs: tuple[Run, ...]


def summarise(runs: Sequence[Run]) -> Provenance:
    versions: dict[str, Counter[str]] = {}
    for run in runs:
        for name, version in run.packages.items():
            versions.setdefault(name, Counter())[version] += 1
    return Provenance(
        commits=tuple(Counter(run.git_commit for run in runs).most_common()),
        packages=tuple((name, tuple(versions[name].most_common())) for name in sorted(versions)),
        devices=tuple(Counter(run.device for run in runs).most_common()),
        runs=tuple(sorted(runs, key=lambda run: (run.protocol, run.dataset, run.method, run.run))),
    )


@dataclass(frozen=True)
class TableSection:
    """An inlined table, under an anchor and a heading."""

    id: str
    title: str
    html: Markup


@dataclass(frozen=True)
class FigureSection:
    """An embedded figure, under an anchor and a heading."""

    id: str
    title: str
    src: str
    caption: str


def table_section(path: Path, page_dir: Path) -> TableSection:
    return TableSection(
        f"table-{path.stem}", TABLE_TITLES.get(path.stem, path.stem), inline_table(path, page_dir)
    )


def figure_text(name: str) -> tuple[str, str]:
    """Title and caption of the figure whose file is named `name` (the stem), shared with the PDF report."""
    kind, _, subject = name.partition("_")
    title, caption = FIGURES.get(kind, (name, ""))
    if subject and kind in FIGURES:
        title = f"{title}: {DATASETS.get(subject, subject)}"
    return title, caption


def figure_section(path: Path) -> FigureSection:
    title, caption = figure_text(path.stem)
    return FigureSection(f"figure-{path.stem}", title, png_data_uri(path), caption)


def build_page(
    *,
    mode: Mode,
    tables: Sequence[Path],
    figures: Sequence[Path],
    metrics: Sequence[Path],
    out: Path,
    templates: Path = TEMPLATES,
) -> str:
    """The page's HTML; every input is read and checked before anything is written."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    page_dir = out.parent
    context = {
        "mode": mode,
        "tables": [table_section(path, page_dir) for path in tables],
        "figures": [figure_section(path) for path in figures],
        "provenance": summarise([read_run(path, page_dir) for path in metrics]),
    }
    env = Environment(
        loader=FileSystemLoader(templates),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("index.html.j2").render(context)
