"""Aggregation of metrics.json files over seeds, and rendering of the LaTeX/HTML tables."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from vifi.metrics import harmonic_mean
from vifi.report import aggregate, tables
from vifi.report.aggregate import MetricsError, aggregate_base2novel, load_runs
from vifi.report.tables import latex_escape, make_environment, render_base2novel

# Per-seed (base, novel) top-1. The vifi seeds are chosen so that the HM of the averages (55.38) differs from
# the average of the per-seed HMs (52.81); vanilla has the best novel and HM on UCF-101.
RUNS = {
    ("ucf101", "vifi"): [(80.0, 60.0), (90.0, 20.0), (100.0, 40.0)],
    ("ucf101", "vanilla"): [(70.0, 50.0), (72.0, 52.0), (71.0, 51.0)],
    ("hmdb51", "text"): [(60.0, 30.0)],
}


def write_run(root: Path, dataset: str, method: str, seed: int, base: float, novel: float) -> Path:
    path = root / "runs" / "base2novel" / dataset / method / f"seed{seed}" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "protocol": "base2novel",
        "dataset": dataset,
        "method": method,
        "seed": seed,
        "metrics": {
            "base": {"top1": base, "top5": 100.0, "videos": 48, "classes": 8},
            "novel": {"top1": novel, "top5": 97.5, "videos": 48, "classes": 8},
        },
        "provenance": {"device": "cpu"},
    }
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


@pytest.fixture
def run_paths(tmp_path: Path) -> list[Path]:
    results = tmp_path / "results"
    return [
        write_run(results, dataset, method, seed, base, novel)
        for (dataset, method), seeds in RUNS.items()
        for seed, (base, novel) in enumerate(seeds, start=1)
    ]


@pytest.fixture
def agg(run_paths: list[Path]) -> pd.DataFrame:
    return aggregate_base2novel(load_runs(run_paths))


def test_load_runs_one_row_per_run(run_paths: list[Path]) -> None:
    df = load_runs(run_paths)
    assert len(df) == 7
    first = df.iloc[0]
    assert (first["dataset"], first["method"], first["seed"]) == ("ucf101", "vifi", 1)
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
    agg = aggregate_base2novel(load_runs(run_paths[2::-1] + run_paths[3:]))
    assert list(zip(agg["dataset"], agg["method"], strict=True)) == [
        ("hmdb51", "text"),
        ("ucf101", "vanilla"),
        ("ucf101", "vifi"),
    ]
    assert [Path(p).parent.name for p in agg["runs"].iloc[2]] == ["seed1", "seed2", "seed3"]


def test_missing_key_names_file_and_key(run_paths: list[Path]) -> None:
    broken = run_paths[1]
    record = json.loads(broken.read_text())
    del record["metrics"]["novel"]["top1"]
    broken.write_text(json.dumps(record))
    with pytest.raises(MetricsError, match=rf"{broken}: missing key 'metrics\.novel\.top1'"):
        load_runs(run_paths)


def test_malformed_json_names_file(run_paths: list[Path]) -> None:
    run_paths[2].write_text('{"protocol": "base2novel", ')
    with pytest.raises(MetricsError, match=str(run_paths[2])):
        load_runs(run_paths)


def test_out_of_range_accuracy_is_rejected(tmp_path: Path) -> None:
    path = write_run(tmp_path, "ucf101", "vifi", 1, base=0.85, novel=101.0)
    with pytest.raises(MetricsError, match=r"metrics\.novel\.top1"):
        load_runs([path])


def test_duplicate_seed_is_rejected(tmp_path: Path) -> None:
    first = write_run(tmp_path / "a", "ucf101", "vifi", 1, 80.0, 60.0)
    second = write_run(tmp_path / "b", "ucf101", "vifi", 1, 81.0, 61.0)
    with pytest.raises(MetricsError, match="same run"):
        aggregate_base2novel(load_runs([first, second]))


def test_aggregate_cli_writes_csv_and_rounded_summary(tmp_path: Path, run_paths: list[Path]) -> None:
    out_csv, out_json = tmp_path / "metrics" / "b2n.csv", tmp_path / "metrics" / "b2n.json"
    argv = ["--protocol", "base2novel", "--out-csv", str(out_csv), "--out-json", str(out_json)]
    assert aggregate.main([*argv, *map(str, run_paths)]) == 0
    summary = json.loads(out_json.read_text())
    assert summary["ucf101"]["vifi"] == {"base": 90.0, "novel": 40.0, "hm": 55.38}
    assert summary["hmdb51"]["text"] == {"base": 60.0, "novel": 30.0, "hm": 40.0}
    back = aggregate.read_aggregate_csv(out_csv)
    assert back.loc[back["method"] == "vifi", "runs"].iloc[0] == [str(p) for p in run_paths[:3]]


def test_aggregate_cli_fails_on_broken_file_without_output(
    tmp_path: Path, run_paths: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    run_paths[0].write_text("{}")
    out_csv, out_json = tmp_path / "b2n.csv", tmp_path / "b2n.json"
    argv = ["--protocol", "base2novel", "--out-csv", str(out_csv), "--out-json", str(out_json)]
    assert aggregate.main([*argv, *map(str, run_paths)]) == 1
    assert str(run_paths[0]) in capsys.readouterr().err
    assert not out_csv.exists() and not out_json.exists()


class StrictHTML(HTMLParser):
    """Collects links and text, and fails on a closing tag that does not match the open one."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"] or "")
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(html: str) -> StrictHTML:
    parser = StrictHTML()
    parser.feed(html)
    parser.close()
    assert parser.open == [], f"unclosed tags {parser.open}"
    return parser


def test_tex_table_has_names_and_bold_best(agg: pd.DataFrame, tmp_path: Path) -> None:
    tex, _ = render_base2novel(agg, make_environment(), mode="paper", link_from=tmp_path)
    assert r"\toprule" in tex and r"\bottomrule" in tex
    for name in ("UCF-101", "HMDB-51", "ViFi-CLIP", "Vanilla CLIP", "CLIP text-FT"):
        assert name in tex
    vifi_line = next(line for line in tex.splitlines() if "ViFi-CLIP" in line)
    assert vifi_line == r" & ViFi-CLIP & \textbf{90.0} $\pm$ 10.0 & 40.0 $\pm$ 20.0 & 55.4 \\"
    vanilla_line = next(line for line in tex.splitlines() if "Vanilla CLIP" in line)
    assert r"\textbf{51.0} $\pm$ 1.0 & \textbf{59.4} \\" in vanilla_line
    assert "demo" not in tex.lower()


def test_html_parses_and_links_every_run(agg: pd.DataFrame, run_paths: list[Path], tmp_path: Path) -> None:
    table_dir = tmp_path / "results" / "tables"
    _, html = render_base2novel(agg, make_environment(), mode="paper", link_from=table_dir)
    parsed = parse_html(html)
    assert len(parsed.hrefs) == len(run_paths)
    assert all(not Path(href).is_absolute() for href in parsed.hrefs)
    assert {(table_dir / href).resolve() for href in parsed.hrefs} == {p.resolve() for p in run_paths}
    assert "<caption>" in html
    assert "<strong>90.0</strong> &plusmn; 10.0" in html


def test_demo_mode_says_numbers_are_not_comparable(agg: pd.DataFrame, tmp_path: Path) -> None:
    tex, html = render_base2novel(agg, make_environment(), mode="demo", link_from=tmp_path)
    text = " ".join(" ".join(parse_html(html).text).split())
    for rendered in (" ".join(tex.split()), text):
        assert "synthetic stand-in datasets" in rendered
        assert "not comparable to the paper" in rendered


def test_latex_escape() -> None:
    assert latex_escape("A&B_c") == r"A\&B\_c"
    assert latex_escape(r"50% $x$ #1 {a} ~^\ ") == (
        r"50\% \$x\$ \#1 \{a\} \textasciitilde{}\textasciicircum{}\textbackslash{} "
    )


def test_names_are_escaped_in_both_outputs(agg: pd.DataFrame, tmp_path: Path) -> None:
    methods = {"vanilla": "Zero_shot", "text": "T", "vifi": "Ours & co_v2"}
    tex, html = render_base2novel(
        agg, make_environment(), mode="paper", link_from=tmp_path, method_names=methods
    )
    assert r"Ours \& co\_v2" in tex and r"Zero\_shot" in tex
    assert "Ours &amp; co_v2" in html
    assert "Ours & co" not in tex


def test_unknown_mode_and_names_are_rejected(agg: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        render_base2novel(agg, make_environment(), mode="draft", link_from=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="vifi"):
        render_base2novel(agg, make_environment(), mode="paper", link_from=tmp_path, method_names={})


def test_tables_cli_writes_both_files(tmp_path: Path, run_paths: list[Path]) -> None:
    out_csv = tmp_path / "results" / "metrics" / "b2n.csv"
    argv = ["--protocol", "base2novel", "--out-csv", str(out_csv), "--out-json", str(tmp_path / "b2n.json")]
    assert aggregate.main([*argv, *map(str, run_paths)]) == 0
    table_dir = tmp_path / "results" / "tables"
    out_tex, out_html = table_dir / "b2n.tex", table_dir / "b2n.html"
    argv = ["--metrics", str(out_csv), "--mode", "demo", "--templates", str(tables.TEMPLATES)]
    assert tables.main([*argv, "--out-tex", str(out_tex), "--out-html", str(out_html)]) == 0
    assert r"\toprule" in out_tex.read_text()
    hrefs = parse_html(out_html.read_text()).hrefs
    assert hrefs[0] == "../runs/base2novel/hmdb51/text/seed1/metrics.json"
