"""All four protocols and all six methods run end to end on a tiny grid (tests/integration/every_protocol.yaml).

Image-FT and text-FT run in the zero-shot protocol, the others in several; few-shot runs prompting only.

The smoke repository of the other integration tests runs base-to-novel only; this run covers zero-shot
transfer, few-shot, the fully supervised multi-view evaluation with FLOP counts, prompting from the zero-shot
ViFi-CLIP and EVL, through to every table, figure and the results page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import ROOT, run
from tests.integration.conftest import copy_checkout, merged_params

pytestmark = pytest.mark.integration

OVERRIDE = ROOT / "tests/integration/every_protocol.yaml"
TABLES = ("base2novel", "prompting", "zeroshot", "fewshot", "fullsup", "evl_vs_vifi")


@dataclass(frozen=True)
class Finished:
    repo: Path
    grid: dict


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Finished:
    """A fresh copy of the checkout after `snakemake --cores 2` over the tiny grid."""
    repo = tmp_path_factory.mktemp("every-protocol") / "repo"
    copy_checkout(repo)
    run(["snakemake", "--cores", "2", "--configfile", str(OVERRIDE)], cwd=repo, timeout=900)
    return Finished(repo, merged_params(OVERRIDE))


def aggregate(finished: Finished, protocol: str) -> pd.DataFrame:
    return pd.read_csv(finished.repo / f"results/aggregates/{protocol}.csv")


def test_every_protocol_aggregates_every_configured_method(finished: Finished) -> None:
    grid = finished.grid
    expected = {
        "zeroshot": {(d, m) for d in grid["zeroshot"]["targets"] for m in grid["zeroshot"]["methods"]},
        "base2novel": {("ucf101", m) for m in grid["base2novel"]["methods"]},
        "fewshot": {("ucf101", m) for m in grid["fewshot"]["methods"]},
        "fullsup": {(d, m) for d, methods in grid["fullsup"]["grid"].items() for m in methods},
    }
    for protocol, rows in expected.items():
        table = aggregate(finished, protocol)
        assert set(zip(table["dataset"], table["method"], strict=True)) == rows, (protocol, table.to_string())
    fullsup = aggregate(finished, "fullsup")
    assert (fullsup["clips"] == 2).all() and (fullsup["crops"] == 3).all()
    assert fullsup["top1"].between(0, 100).all()


def test_every_table_figure_and_the_page_are_written(finished: Finished) -> None:
    results = finished.repo / "results"
    for table in TABLES:
        for ext in ("tex", "html"):
            assert (results / f"tables/{table}.{ext}").stat().st_size > 0, (table, ext)
    figures = {p.stem for p in (results / "figures").glob("*.png")}
    assert figures >= {"fewshot", "base2novel", "tsne_ucf101"}
    page = (results / "index.html").read_text()
    assert page.count("<table") >= len(TABLES) and page.count("data:image/png;base64,") == len(figures)


def test_findings_have_one_row_per_applicable_claim(finished: Finished) -> None:
    """Each claim once per comparison whose both sides ran; the others are listed as not run."""
    html = (finished.repo / "results/tables/findings.html").read_text()
    rows = re.findall(r'<tr class="finding" data-claim="([\w-]+)">.*?<td class="text">(.*?)</td>'
                      r'<td class="text">(.*?)</td>.*?class="verdict (\w+)"', html)  # fmt: skip
    assert [row[:3] for row in rows] == [
        ("b2n-vifi-vs-baselines", "UCF-101", "ViFi-CLIP vs Vanilla CLIP"),  # image-FT, text-FT: zero-shot only
        ("zs-vifi-vs-baselines", "UCF-101", "ViFi-CLIP vs CLIP image-FT"),
        ("zs-vifi-vs-baselines", "UCF-101", "ViFi-CLIP vs CLIP text-FT"),
        ("zs-vifi-vs-baselines", "UCF-101", "ViFi-CLIP vs Vanilla CLIP"),
        ("b2n-prompting", "UCF-101", "ViFi-CLIP + VL prompting vs ViFi-CLIP"),
        ("fullsup-evl-temporal", "SSv2", "EVL (open-vocab head) vs ViFi-CLIP"),
    ], html
    assert {row[3] for row in rows} <= {"holds", "fails", "inconclusive"}
    # Few-shot runs prompting alone at one K: neither of its claims has both sides.
    assert re.findall(r'<li data-claim="([\w-]+)">', html) == ["fs-prompting", "fs-more-shots"]
    assert (finished.repo / "results/tables/findings.tex").read_text().count("\\\\\n") >= len(rows)
    page = (finished.repo / "results/index.html").read_text()
    assert '<section id="table-findings">' in page and page.count('<tr class="finding"') == len(rows)
    clusters = json.loads((finished.repo / "results/figures/clusters_ucf101.json").read_text())
    assert clusters["sentence"] in html and set(clusters["silhouette"]) == {"vanilla", "vifi"}


def test_every_run_has_its_per_video_file_and_every_value_an_interval(finished: Finished) -> None:
    for metrics in (finished.repo / "results/runs").glob("*/*/*/*/metrics.json"):
        assert json.loads(metrics.read_text())["predictions"] == "predictions.csv", metrics
        assert metrics.with_name("predictions.csv").stat().st_size > 0, metrics
    table = aggregate(finished, "fullsup")
    assert ((table["top1_lo"] <= table["top1"]) & (table["top1"] <= table["top1_hi"])).all(), table.to_string()


def test_flops_are_counted_for_each_fully_supervised_method(finished: Finished) -> None:
    counted = json.loads((finished.repo / "results/metrics/flops/k400.json").read_text())
    assert counted.keys() == set(finished.grid["fullsup"]["grid"]["k400"]), counted
    assert all(gflops > 0 for gflops in counted.values()), counted


def test_prompting_trained_from_the_zero_shot_vifi_model(finished: Finished) -> None:
    log = (finished.repo / "logs/train/base2novel/ucf101/prompt/seed1.log").read_text()
    assert "tensors from results/runs/zeroshot/k400/vifi/main/model.pt" in log, log[-2000:]


def test_nothing_is_left_to_do(finished: Finished) -> None:
    dry = run(["snakemake", "-n", "--configfile", str(OVERRIDE)], cwd=finished.repo)
    assert "Nothing to be done" in dry.stdout + dry.stderr, dry.stdout
