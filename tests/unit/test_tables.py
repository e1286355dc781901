"""Rendering of the results tables (LaTeX and HTML) from aggregated metrics CSVs, with the published numbers."""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from vifi.names import METHODS
from vifi.report import tables
from vifi.report.aggregate import PROTOCOL, write_aggregate_csv
from vifi.report.published import Published, PublishedError
from vifi.report.tables import (
    TABLES,
    Context,
    RenderError,
    build_table,
    latex_escape,
    make_environment,
    read_metrics,
    render,
)
from vifi.stages import render as render_stage

# Base-to-novel rows: (dataset, method, seeds, base mean, base std, novel mean, novel std). On UCF-101
# ViFi-CLIP has the best base, vanilla CLIP (one run, no spread) the best novel and HM; prompting belongs to
# its own table.
BASE2NOVEL = [
    ("ucf101", "vifi", 3, 90.0, 10.0, 40.0, 20.0),
    ("ucf101", "vanilla", 1, 71.0, 0.0, 51.0, 0.0),
    ("ucf101", "prompt", 3, 95.0, 1.0, 30.0, 2.0),
    ("hmdb51", "text", 1, 60.0, 0.0, 30.0, 0.0),
]
# Zero-shot rows: (target, method, mean, std, splits); vanilla CLIP was not run on K600 and UCF-101.
ZEROSHOT = [
    ("k600", "vifi", 55.0, math.sqrt(325), 3),
    ("hmdb51", "vanilla", 32.0, 2.6458, 3),
    ("hmdb51", "vifi", 51.0, 1.0, 3),
    ("ucf101", "vifi", 72.0, 2.0, 3),
]
# Few-shot rows: (dataset, method, K, top-1); K out of order, 2 < 8 < 16 only as numbers. Vanilla CLIP is not
# part of the few-shot table, and prompting has no 8-shot run.
FEWSHOT = [
    ("ucf101", "vifi", 16, 90.0),
    ("ucf101", "vifi", 2, 50.0),
    ("ucf101", "vifi", 8, 75.0),
    ("ucf101", "prompt", 2, 60.0),
    ("ucf101", "prompt", 16, 88.0),
    ("ucf101", "vanilla", 2, 99.0),
    ("ssv2", "evl", 2, 9.0),
]
# Fully supervised rows: (dataset, method, top-1, top-5, clips, crops).
FULLSUP = [
    ("k400", "vifi", 83.9, 96.3, 4, 3),
    ("k400", "evl", 82.9, 95.8, 1, 3),
    ("k400", "image", 82.0, 96.5, 4, 3),
    ("ssv2", "evl", 45.5, 75.25, 1, 3),
    ("ssv2", "vifi", 10.0, 30.0, 1, 1),
]
FLOPS = {"vifi": 281.0, "image": 281.0}
TIMES = "\N{MULTIPLICATION SIGN}"


class TableHTML(HTMLParser):
    """Collects rows (cell texts), bold cell texts, flagged cells, links and text; fails on unbalanced tags."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []
        self.head: list[list[str]] = []
        self.rows: list[list[str]] = []
        self.bold: list[str] = []
        self.flags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "a":
            self.hrefs.append(attr["href"] or "")
        if tag == "tr":
            (self.head if "thead" in self.open else self.rows).append([])
        if tag in ("td", "th") and "tr" in self.open:
            (self.head if "thead" in self.open else self.rows)[-1].append("")
        if tag == "td" and "off" in (attr.get("class") or "").split():
            self.flags.append(attr.get("title") or "")
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if "tr" in self.open and self.open[-1] != "tr":
            rows = self.head if "thead" in self.open else self.rows
            rows[-1][-1] += data
        if "strong" in self.open and "td" in self.open:
            self.bold.append(data)


def parse_html(html: str) -> TableHTML:
    parser = TableHTML()
    parser.feed(html)
    parser.close()
    assert parser.open == [], f"unclosed tags {parser.open}"
    return parser


def body_lines(tex: str) -> list[str]:
    """The data rows of a LaTeX table (between the first \\midrule and \\bottomrule)."""
    body = tex.split("\\midrule", 1)[1].split("\\bottomrule", 1)[0]
    return [line for line in body.splitlines() if line.endswith("\\\\")]


def run_files(results: Path, protocol: str, dataset: str, method: str, runs: Sequence[str]) -> list[str]:
    """metrics.json files at their place in the run tree, so that links can be checked to resolve."""
    paths = []
    for run in runs:
        path = results / "runs" / protocol / dataset / method / run / "metrics.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        paths.append(str(path))
    return paths


def with_intervals(protocol: str, rows: list[dict]) -> pd.DataFrame:
    """Rows with the intervals `vifi aggregate` adds, here value - 1 to value + 2 (half width 1.5)."""
    table = pd.DataFrame(rows)
    for estimate in PROTOCOL[protocol].estimates:
        values = table[estimate.column]
        table[f"{estimate.column}_lo"], table[f"{estimate.column}_hi"] = values - 1.0, values + 2.0
    return table


def write_csvs(results: Path) -> dict[str, Path]:
    """One aggregated CSV per protocol, as `vifi aggregate` writes them, under `results/metrics`."""
    frames = {
        "base2novel": [
            {
                "dataset": ds,
                "method": m,
                "n_seeds": n,
                "base_mean": b,
                "base_std": bs,
                "novel_mean": nv,
                "novel_std": ns,
                "hm": 2 * b * nv / (b + nv),
                "runs": run_files(
                    results, "base2novel", ds, m, [f"seed{k}" for k in range(1, n + 1)] if n > 1 else ["main"]
                ),
            }
            for ds, m, n, b, bs, nv, ns in BASE2NOVEL
        ],
        "zeroshot": [
            {"dataset": ds, "method": m, "split1": mean, "mean": mean, "std": std, "n_splits": n}
            | {"runs": run_files(results, "zeroshot", ds, m, ["main"])}
            for ds, m, mean, std, n in ZEROSHOT
        ],
        "fewshot": [
            {"dataset": ds, "method": m, "shots": k, "top1": top1, "top5": 99.0, "n_seeds": 1}
            | {"runs": run_files(results, "fewshot", ds, m, [f"{k}shot-seed1"])}
            for ds, m, k, top1 in FEWSHOT
        ],
        "fullsup": [
            {"dataset": ds, "method": m, "top1": t1, "top5": t5, "clips": c, "crops": r}
            | {"runs": run_files(results, "fullsup", ds, m, ["main"])}
            for ds, m, t1, t5, c, r in FULLSUP
        ],
    }
    paths = {}
    for protocol, rows in frames.items():
        paths[protocol] = results / "metrics" / f"{protocol}.csv"
        write_aggregate_csv(paths[protocol], with_intervals(protocol, rows))
    return paths


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return tmp_path / "results"


@pytest.fixture
def csvs(results: Path) -> dict[str, Path]:
    return write_csvs(results)


def render_table(
    name: str,
    csvs: dict[str, Path],
    results: Path,
    *,
    mode: tables.Mode = "demo",
    published: Published | None = None,
    tolerance: float = 1.0,
    method_names: dict[str, str] | None = None,
    ci: bool = False,
) -> tuple[str, str]:
    ctx = Context(
        link_from=results / "tables",
        published=published if mode == "paper" else None,
        tolerance=tolerance,
        flops=FLOPS,
        method_names=method_names or METHODS,
    )
    table = build_table(name, read_metrics([csvs[TABLES[name].protocol]], TABLES[name].protocol), ctx)
    return render(name, table, make_environment(), mode=mode, tolerance=tolerance, ci=ci)


def test_every_table_has_its_own_template_pair() -> None:
    for name in TABLES:
        for ext in ("tex", "html"):
            assert (tables.TEMPLATES / f"{name}.{ext}.j2").is_file()
    pairs = {p.name.split(".")[0] for p in tables.TEMPLATES.glob("*.tex.j2") if not p.name.startswith("_")}
    # findings.tex.j2 belongs to `vifi findings`, audit_effect.tex.j2 to `vifi audit-effect`
    expected = {*TABLES, "findings", "audit_effect"}
    assert pairs == expected, "a LaTeX template without a table, or a table without one"


def test_base2novel_rows_and_bold_best(csvs: dict[str, Path], results: Path) -> None:
    tex, html = render_table("base2novel", csvs, results)
    assert body_lines(tex) == [
        r"HMDB-51 & CLIP text-FT & \textbf{60.0} & \textbf{30.0} & \textbf{40.0} \\",
        r"UCF-101 & Vanilla CLIP & 71.0 & \textbf{51.0} & \textbf{59.4} \\",
        r" & ViFi-CLIP & \textbf{90.0} $\pm$ 10.0 & 40.0 $\pm$ 20.0 & 55.4 \\",
    ]
    assert r"Dataset & Method & Base & Novel & HM \\" in tex
    parsed = parse_html(html)
    assert [row[-4:] for row in parsed.rows] == [
        ["CLIP text-FT", "60.0", "30.0", "40.0"],
        ["Vanilla CLIP", "71.0", "51.0", "59.4"],
        ["ViFi-CLIP", *(f"{v} seed1 seed2 seed3" for v in ("90.0 ± 10.0", "40.0 ± 20.0", "55.4"))],
    ]
    assert parsed.bold == ["60.0", "30.0", "40.0", "51.0", "59.4", "90.0"]


def test_prompting_compares_vifi_with_prompting_only(csvs: dict[str, Path], results: Path) -> None:
    tex, _ = render_table("prompting", csvs, results)
    assert body_lines(tex) == [
        r"UCF-101 & ViFi-CLIP & 90.0 $\pm$ 10.0 & \textbf{40.0} $\pm$ 20.0 & \textbf{55.4} \\",
        r" & ViFi-CLIP + VL prompting & \textbf{95.0} $\pm$ 1.0 & 30.0 $\pm$ 2.0 & 45.6 \\",
    ]


def test_zeroshot_methods_by_targets(csvs: dict[str, Path], results: Path) -> None:
    tex, html = render_table("zeroshot", csvs, results)
    assert r"Method & Kinetics-600 & HMDB-51 & UCF-101 \\" in tex
    assert body_lines(tex) == [
        r"Vanilla CLIP & --- & 32.0 $\pm$ 2.6 & --- \\",
        r"ViFi-CLIP & \textbf{55.0} $\pm$ 18.0 & \textbf{51.0} $\pm$ 1.0 & \textbf{72.0} $\pm$ 2.0 \\",
    ]
    assert parse_html(html).rows[0] == ["Vanilla CLIP", "—", "32.0 ± 2.6", "—"]


def test_zeroshot_single_split_has_no_spread(tmp_path: Path, results: Path) -> None:
    path = tmp_path / "one_split.csv"
    run = run_files(results, "zeroshot", "hmdb51", "vifi", ["main"])
    write_aggregate_csv(
        path,
        with_intervals("zeroshot", [{"dataset": "hmdb51", "method": "vifi", "split1": 40.0, "mean": 40.0}
                                    | {"std": 0.0, "n_splits": 1, "runs": run}]),
    )  # fmt: skip
    tex, _ = render_table("zeroshot", {"zeroshot": path}, results)
    assert body_lines(tex) == [r"ViFi-CLIP & \textbf{40.0} \\"]


def test_fewshot_blocks_per_dataset_columns_per_k(csvs: dict[str, Path], results: Path) -> None:
    tex, html = render_table("fewshot", csvs, results)
    assert r"Dataset & Method & K=2 & K=8 & K=16 \\" in tex
    assert r"\multicolumn{3}{c}{Shots per class}" in tex and r"\cmidrule(lr){3-5}" in tex
    assert body_lines(tex) == [
        r"UCF-101 & ViFi-CLIP & 50.0 & \textbf{75.0} & \textbf{90.0} \\",
        r" & ViFi-CLIP + VL prompting & \textbf{60.0} & --- & 88.0 \\",
        r"SSv2 & EVL (open-vocab head) & \textbf{9.0} & --- & --- \\",
    ]
    assert parse_html(html).rows[0][-4:] == ["ViFi-CLIP", "50.0", "75.0", "90.0"]


def test_fullsup_k400_with_views_and_compute(csvs: dict[str, Path], results: Path) -> None:
    tex, html = render_table("fullsup", csvs, results)
    assert r"Method & Top-1 & Top-5 & Views & GFLOPs \\" in tex
    assert body_lines(tex) == [
        r"CLIP image-FT & 82.0 & \textbf{96.5} & 4$\times$3 & 281$\times$12 \\",
        r"ViFi-CLIP & \textbf{83.9} & 96.3 & 4$\times$3 & 281$\times$12 \\",
        r"EVL (open-vocab head) & 82.9 & 95.8 & 1$\times$3 & --- \\",
    ]
    assert parse_html(html).rows[2] == ["EVL (open-vocab head)", "82.9", "95.8", f"1 {TIMES} 3", "—"]


def test_evl_vs_vifi_on_both_roles(csvs: dict[str, Path], results: Path) -> None:
    tex, _ = render_table("evl_vs_vifi", csvs, results)
    assert r" & \multicolumn{2}{c}{Kinetics-400} & \multicolumn{2}{c}{SSv2} \\" in tex
    assert body_lines(tex) == [
        r"ViFi-CLIP & \textbf{83.9} & \textbf{96.3} & 10.0 & 30.0 \\",
        r"EVL (open-vocab head) & 82.9 & 95.8 & \textbf{45.5} & \textbf{75.2} \\",
    ]


def test_table_without_rows_is_an_error(results: Path, tmp_path: Path) -> None:
    path = tmp_path / "fullsup.csv"
    runs = run_files(results, "fullsup", "ssv2", "evl", ["main"])
    row = {"dataset": "ssv2", "method": "evl", "top1": 1.0, "top5": 2.0, "clips": 1, "crops": 1, "runs": runs}
    write_aggregate_csv(path, with_intervals("fullsup", [row]))
    with pytest.raises(RenderError, match="no rows for table 'fullsup'"):
        render_table("fullsup", {"fullsup": path}, results)


@pytest.mark.parametrize("name", list(TABLES))
def test_demo_and_paper_captions(name: str, csvs: dict[str, Path], results: Path) -> None:
    for mode in ("demo", "paper"):
        tex, html = render_table(name, csvs, results, mode=mode, published=Published.load())
        text = " ".join(" ".join(parse_html(html).text).split())
        for rendered in (" ".join(tex.split()), text):
            assert ("synthetic stand-in datasets" in rendered) == (mode == "demo")
            assert ("not comparable to the paper" in rendered) == (mode == "demo")
            assert ("published" in rendered) == (mode == "paper")
        assert ("& Ours & Paper & $\\Delta$" in tex) == (mode == "paper")


@pytest.mark.parametrize("name", list(TABLES))
def test_links_point_to_existing_runs(name: str, csvs: dict[str, Path], results: Path) -> None:
    (results / "tables").mkdir()
    _, html = render_table(name, csvs, results)
    hrefs = parse_html(html).hrefs
    assert hrefs and all(not Path(href).is_absolute() for href in hrefs)
    assert all((results / "tables" / href).is_file() for href in hrefs)


def published_file(tmp_path: Path) -> Published:
    path = tmp_path / "published.yaml"
    path.write_text("base_to_novel:\n  ucf101:\n    ViFi-CLIP: {base: 89.5, novel: 47.0, hm: null}\n")
    return Published.load(path)


def test_paper_mode_shows_delta_and_flag(csvs: dict[str, Path], results: Path, tmp_path: Path) -> None:
    tex, html = render_table("base2novel", csvs, results, mode="paper", published=published_file(tmp_path))
    lines = body_lines(tex)
    # Base: +0.5 is within the 1-point tolerance; novel: -7.0 is not; HM and vanilla CLIP: nothing published.
    assert lines[2] == (
        r" & ViFi-CLIP & \textbf{90.0} $\pm$ 10.0 & 89.5 & $+0.5$ & 40.0 $\pm$ 20.0 & 47.0 & $-7.0^{\dagger}$"
        r" & 55.4 & --- & --- \\"
    )
    assert lines[1].startswith(r"UCF-101 & Vanilla CLIP & 71.0 & --- & --- & \textbf{51.0} & --- & --- &")
    assert r"$^{\dagger}$\,$|\Delta| > 1.0$ points" in tex
    parsed = parse_html(html)
    assert parsed.flags == ["|Δ| = 7.0 points, above the 1.0-point tolerance"]
    assert parsed.rows[2][-9:-3] == [
        "90.0 ± 10.0 seed1 seed2 seed3", "89.5", "+0.5", "40.0 ± 20.0 seed1 seed2 seed3", "47.0", "-7.0\u00a0†"
    ]  # fmt: skip


def test_wider_tolerance_flags_nothing(csvs: dict[str, Path], results: Path, tmp_path: Path) -> None:
    published = published_file(tmp_path)
    tex, html = render_table("base2novel", csvs, results, mode="paper", published=published, tolerance=7.5)
    assert r"\dagger" not in tex and "$-7.0$" in tex
    assert parse_html(html).flags == []


@pytest.mark.parametrize(
    ("ours", "delta", "flagged"),
    [(93.9, 1.0, False), (93.86, 1.0, False), (93.96, 1.1, True), (91.8, -1.1, True), (92.86, 0.0, False)],
)
def test_delta_is_taken_on_printed_values(ours: float, delta: float, flagged: bool) -> None:
    published = Published({"base_to_novel": {"ucf101": {"ViFi-CLIP": {"base": 92.9}}}}, Path("p.yaml"))
    cell = Context(link_from=Path(), published=published, tolerance=1.0).cell(
        ours, None, (), "base2novel", ("ucf101", "vifi", "base")
    )
    assert (cell.published, cell.delta, cell.flagged) == (92.9, delta, flagged)
    assert str(cell.delta) != "-0.0"


def test_published_keys_map_our_codes() -> None:
    published = Published.load()
    assert published.value("base2novel", "k400", "vifi", "hm") == 67.9
    assert published.value("base2novel", "hmdb51", "image", "base") == 62.6
    assert published.value("base2novel", "ucf101", "prompt", "hm") == 83.6  # the VL prompting section
    assert published.value("base2novel", "k400", "prompt", "hm") is None  # no K400 prompting row
    assert published.value("base2novel", "ucf101", "vanilla", "hm") is None
    assert published.value("zeroshot", "k600", "text", "top1") == 68.5
    assert published.value("fewshot", "ssv2", "prompt", "top1", "k16") == 13.5
    assert published.value("fewshot", "hmdb51", "vifi", "top1", "k2") == 57.2
    assert published.value("fullsup", "k400", "evl", "top5") == 95.8  # the released ViT-B/16 8-frame EVL
    assert published.value("fullsup", "ssv2", "evl", "top1") is None


def test_published_file_without_section_is_named(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text("zero_shot: {}\n")
    with pytest.raises(PublishedError, match=rf"{path}: no section 'base_to_novel'"):
        Published.load(path).value("base2novel", "ucf101", "vifi", "base")


def test_latex_escape() -> None:
    assert latex_escape("A&B_c") == r"A\&B\_c"
    assert latex_escape(r"50% $x$ #1 {a} ~^\ ") == (
        r"50\% \$x\$ \#1 \{a\} \textasciitilde{}\textasciicircum{}\textbackslash{} "
    )


def test_names_are_escaped_in_both_outputs(csvs: dict[str, Path], results: Path) -> None:
    names = {"vanilla": "Zero_shot", "text": "T", "vifi": "Ours & co_v2", "prompt": "P"}
    tex, html = render_table("base2novel", csvs, results, method_names=names)
    assert r"Ours \& co\_v2" in tex and r"Zero\_shot" in tex
    assert "Ours & co" not in tex
    assert "Ours &amp; co_v2" in html


def test_unknown_names_and_mode_are_rejected(csvs: dict[str, Path], results: Path) -> None:
    with pytest.raises(RenderError, match="vifi"):
        render_table("base2novel", csvs, results, method_names={"vanilla": "V"})
    table = build_table("zeroshot", read_metrics([csvs["zeroshot"]], "zeroshot"), Context(link_from=results))
    with pytest.raises(ValueError, match="mode"):
        render("zeroshot", table, make_environment(), mode="draft", tolerance=1.0)  # type: ignore[arg-type]


def cli_args(name: str, metrics: Sequence[Path], out: Path, *extra: str) -> list[str]:
    return [
        "--table", name, "--metrics", *map(str, metrics), "--mode", "paper", "--no-ci", *extra,
        "--out-tex", str(out / f"{name}.tex"), "--out-html", str(out / f"{name}.html"),
    ]  # fmt: skip


def test_cli_writes_both_files_from_several_csvs(csvs: dict[str, Path], results: Path) -> None:
    full = pd.read_csv(csvs["base2novel"])
    parts = [results / "metrics" / "part1.csv", results / "metrics" / "part2.csv"]
    full.iloc[:2].to_csv(parts[0], index=False)
    full.iloc[2:].to_csv(parts[1], index=False)
    out = results / "tables"
    assert render_stage.main(cli_args("base2novel", parts, out, "--tolerance", "0.5")) == 0
    assert sorted(p.name for p in out.iterdir()) == ["base2novel.html", "base2novel.tex"]  # no temp files left
    tex = (out / "base2novel.tex").read_text()
    assert r"ViFi-CLIP & \textbf{90.0} $\pm$ 10.0 & 92.9 & $-2.9^{\dagger}$" in tex  # the packaged numbers
    assert r"$|\Delta| > 0.5$" in tex
    hrefs = parse_html((out / "base2novel.html").read_text()).hrefs
    assert hrefs[0] == "../runs/base2novel/hmdb51/text/main/metrics.json"


def test_cli_fullsup_reads_flops(csvs: dict[str, Path], results: Path, tmp_path: Path) -> None:
    flops = tmp_path / "flops.json"
    flops.write_text('{"evl": 0.0352}')
    out = results / "tables"
    assert render_stage.main(cli_args("fullsup", [csvs["fullsup"]], out, "--flops", str(flops))) == 0
    assert r"EVL (open-vocab head) & 82.9 & 82.8 & $+0.1$" in (out / "fullsup.tex").read_text()
    assert "0.0352$\\times$3" in (out / "fullsup.tex").read_text()


def test_cli_writes_neither_file_when_one_fails(csvs: dict[str, Path], results: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(tables.TEMPLATES, templates)
    (templates / "zeroshot.html.j2").write_text("{{ undefined_name }}")
    out = results / "tables"
    with pytest.raises(Exception, match="undefined_name"):
        render_stage.main(cli_args("zeroshot", [csvs["zeroshot"]], out, "--templates", str(templates)))
    assert not out.exists()


def test_cli_names_a_broken_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "zeroshot.csv"
    broken.write_text("dataset,method\nucf101,vifi\n")
    assert render_stage.main(cli_args("zeroshot", [broken], tmp_path / "tables")) == 1
    assert f"{broken}: missing columns" in capsys.readouterr().err
    assert not (tmp_path / "tables").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--table", "table9"], "invalid choice: 'table9'"),
        (["--table", "zeroshot", "--flops", "f.json"], "--flops applies to the fullsup table only"),
        (["--table", "zeroshot", "--tolerance", "-1"], "-1.0 is not a non-negative number"),
    ],
)
def test_cli_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    rest = ["--metrics", "m.csv", "--mode", "demo", "--no-ci", "--out-tex", "t.tex", "--out-html", "t.html"]
    with pytest.raises(SystemExit) as exit_info:
        render_stage.main([*argv, *rest])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "evl_vs_vifi" in err  # the known tables are listed


def test_latex_switch_prints_half_the_confidence_interval(csvs: dict[str, Path], results: Path) -> None:
    """Under --ci every number, single runs and HM included, gets ± half its interval instead of ± std."""
    tex, _ = render_table("base2novel", csvs, results, ci=True)
    bold = r"\textbf{60.0} $\pm$ 1.5 & \textbf{30.0} $\pm$ 1.5 & \textbf{40.0} $\pm$ 1.5"
    assert body_lines(tex) == [
        rf"HMDB-51 & CLIP text-FT & {bold} \\",
        r"UCF-101 & Vanilla CLIP & 71.0 $\pm$ 1.5 & \textbf{51.0} $\pm$ 1.5 & \textbf{59.4} $\pm$ 1.5 \\",
        r" & ViFi-CLIP & \textbf{90.0} $\pm$ 1.5 & 40.0 $\pm$ 1.5 & 55.4 $\pm$ 1.5 \\",
    ]
    caption = " ".join(tex.split())
    assert (
        "$\\pm$ gives half the width of the 95\\% confidence interval, from 2000 bootstrap resamples" in caption
    )
    assert "mean over the few-shot training seeds. HM" in caption and "standard deviation" not in caption
    plain, _ = render_table("base2novel", csvs, results)
    assert "mean $\\pm$ sample standard deviation over the few-shot training seeds (none" in " ".join(
        plain.split()
    )


@pytest.mark.parametrize("name", ["zeroshot", "prompting"])
def test_latex_switch_drops_the_std_from_the_caption(name: str, csvs: dict[str, Path], results: Path) -> None:
    with_ci, without = (" ".join(render_table(name, csvs, results, ci=ci)[0].split()) for ci in (True, False))
    assert "standard deviation" not in with_ci and "confidence interval" in with_ci
    assert "sample standard deviation" in without and "confidence interval" not in without


def test_html_shows_the_interval_on_hover(csvs: dict[str, Path], results: Path) -> None:
    for ci in (False, True):  # the switch is LaTeX's only
        _, html = render_table("fewshot", csvs, results, ci=ci)
        titles = re.findall(r'<td title="([^"]*)">', html)
        assert titles == [
            f"95% CI {lo:.1f}\N{EN DASH}{lo + 3:.1f}" for lo in (49, 74, 89, 59, 87, 8)
        ]  # no run, none
        assert "hovering over one shows its 95% confidence interval, from 2000 bootstrap" in " ".join(
            html.split()
        )


def test_cli_ci_switch(csvs: dict[str, Path], results: Path) -> None:
    out = results / "tables"
    for flag, expected in (("--ci", r"\textbf{9.0} $\pm$ 1.5"), ("--no-ci", r"\textbf{9.0} & ---")):
        assert render_stage.main([*cli_args("fewshot", [csvs["fewshot"]], out), "--mode", "demo", flag]) == 0
        assert expected in (out / "fewshot.tex").read_text()


def test_tables_need_the_confidence_intervals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = tmp_path / "fewshot.csv"
    pd.DataFrame(
        [
            {
                "dataset": "ucf101",
                "method": "vifi",
                "shots": 2,
                "top1": 1.0,
                "top5": 2.0,
                "n_seeds": 1,
                "runs": "[]",
            }
        ]
    ).to_csv(old, index=False)
    assert render_stage.main(cli_args("fewshot", [old], tmp_path / "tables")) == 1
    assert f"{old}: missing columns top1_lo, top1_hi, top5_lo, top5_hi" in capsys.readouterr().err
