"""The findings table: claims as data, paired verdicts, rendering, results page and paper; cluster sentences."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_paper import TABLE
from tests.unit.test_report import write_metrics
from vifi.embeddings import Embeddings, save_embeddings
from vifi.report import clusters, findings, index, paper
from vifi.report.bootstrap import FAILS, HOLDS, INCONCLUSIVE
from vifi.report.findings import FindingsError, claim_findings, load_claims, read_runs, render
from vifi.report.published import Published
from vifi.report.tables import latex_escape
from vifi.stages import aggregate as aggregate_stage
from vifi.stages import clusters as clusters_stage
from vifi.stages import findings as findings_stage
from vifi.stages import paper as paper_stage

DOCUMENT = Path(__file__).resolve().parents[2] / "paper" / "main.tex"

# Top-1 per set of each run. Every per-video file marks its first videos correct (tests.unit.test_report), so
# a higher accuracy is right on every video a lower one is: each paired difference keeps its sign in every
# resample, and equal accuracies differ by exactly 0.
RUNS = {
    "base2novel": {
        ("ucf101", "vifi", "seed1"): {"base": 70.0, "novel": 50.0},
        ("ucf101", "vifi", "seed2"): {"base": 70.0, "novel": 50.0},
        ("ucf101", "image", "seed1"): {"base": 60.0, "novel": 40.0},
        ("ucf101", "image", "seed2"): {"base": 60.0, "novel": 40.0},
        ("ucf101", "prompt", "seed1"): {"base": 60.0, "novel": 40.0},
        ("ucf101", "prompt", "seed2"): {"base": 60.0, "novel": 40.0},
        ("ucf101", "vanilla", "main"): {"base": 70.0, "novel": 50.0},
    },
    "zeroshot": {
        ("ucf101", "vifi", "main"): {"split1": 60.0, "split2": 60.0},
        ("ucf101", "text", "main"): {"split1": 50.0, "split2": 50.0},
    },
    "fewshot": {
        ("ucf101", "vifi", "2shot-seed1"): {"val": 40.0},
        ("ucf101", "vifi", "8shot-seed1"): {"val": 60.0},
        ("ucf101", "prompt", "2shot-seed1"): {"val": 40.0},
    },
    "fullsup": {
        ("ssv2", "vifi", "main"): {"val": 40.0},
        ("ssv2", "evl", "main"): {"val": 30.0},
    },
}
HM_VIFI, HM_OTHER = 2 * 70 * 50 / 120, 2 * 60 * 40 / 100
# (claim, dataset, comparison, paper delta, our delta, verdict); the paper's from the packaged published.yaml.
EXPECTED = [
    ("b2n-vifi-vs-baselines", "UCF-101", "ViFi-CLIP vs CLIP image-FT", 3.9, HM_VIFI - HM_OTHER, HOLDS),
    ("b2n-vifi-vs-baselines", "UCF-101", "ViFi-CLIP vs Vanilla CLIP", None, 0.0, INCONCLUSIVE),
    ("zs-vifi-vs-baselines", "UCF-101", "ViFi-CLIP vs CLIP text-FT", 7.0, 10.0, HOLDS),
    ("b2n-prompting", "UCF-101", "ViFi-CLIP + VL prompting vs ViFi-CLIP", 5.3, HM_OTHER - HM_VIFI, FAILS),
    ("fs-prompting", "UCF-101", "ViFi-CLIP + VL prompting vs ViFi-CLIP, K=2", 10.3, 0.0, INCONCLUSIVE),
    ("fullsup-evl-temporal", "SSv2", "EVL (open-vocab head) vs ViFi-CLIP", None, -10.0, FAILS),
    ("fs-more-shots", "UCF-101", "ViFi-CLIP: K=8 vs K=2", 9.3, 20.0, HOLDS),
]
# Training runs per side behind each row: 2 subsets each (vanilla trains nothing, so ViFi-CLIP's count), one
# zero-shot source model, one K-shot draw, one fully supervised run.
RUNS_BEHIND = [2, 2, 1, 2, 1, 1, 1]


@pytest.fixture(scope="module")
def csvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each protocol's aggregate table over runs with per-video files, as the workflow writes them."""
    root = tmp_path_factory.mktemp("findings")
    paths = {}
    for protocol, runs in RUNS.items():
        metrics = [
            write_metrics(
                root, protocol, dataset, method, run, {name: (top1, 100.0) for name, top1 in sets.items()}
            )
            for (dataset, method, run), sets in runs.items()
        ]
        paths[protocol] = root / "aggregates" / f"{protocol}.csv"
        argv = ["--protocol", protocol, "--out-csv", str(paths[protocol]), "--out-json", str(root / "x.json")]
        assert aggregate_stage.main([*argv, *map(str, metrics)]) == 0
    return paths


@pytest.fixture(scope="module")
def all_findings(csvs: dict[str, Path]) -> list[findings.ClaimFindings]:
    runs, published = read_runs(csvs), Published.load()
    return [claim_findings(claim, runs.get(claim.protocol), published) for claim in load_claims()]


def test_the_packaged_claims() -> None:
    claims = load_claims()
    assert [(c.id, c.protocol, c.metric, c.compare) for c in claims] == [
        ("b2n-vifi-vs-baselines", "base2novel", "hm", "methods"),
        ("zs-vifi-vs-baselines", "zeroshot", "top1", "methods"),
        ("b2n-prompting", "base2novel", "hm", "methods"),
        ("fs-prompting", "fewshot", "top1", "methods"),
        ("fullsup-evl-temporal", "fullsup", "top1", "methods"),
        ("fs-more-shots", "fewshot", "top1", "shots"),
    ]
    assert claims[0].than == ("image", "text", "vanilla") and claims[4].datasets == ("ssv2",)


def test_every_verdict_is_computed_from_the_paired_interval(all_findings: list[findings.ClaimFindings]) -> None:
    rows = [
        (g.claim.id, r.dataset, r.comparison, r.paper, r.ours.value, r.verdict)
        for g in all_findings
        for r in g.rows
    ]
    assert [row[:4] + row[5:] for row in rows] == [row[:4] + row[5:] for row in EXPECTED]
    assert [row[4] for row in rows] == pytest.approx([row[4] for row in EXPECTED], abs=1e-9)
    assert [r.runs for g in all_findings for r in g.rows] == RUNS_BEHIND
    intervals = {(g.claim.id, r.comparison): r.ours for g in all_findings for r in g.rows}
    assert (intervals["fs-prompting", EXPECTED[4][2]].lo, intervals["fs-prompting", EXPECTED[4][2]].hi) == (
        0.0,
        0.0,
    )
    shots = intervals["fs-more-shots", "ViFi-CLIP: K=8 vs K=2"]
    assert 17.0 < shots.lo < 20.0 < shots.hi < 23.0  # 400 of 2000 videos differ: about 20 +- 1.8


def test_a_claim_without_runs_is_not_run(csvs: dict[str, Path]) -> None:
    runs, published = read_runs({"fullsup": csvs["fullsup"]}), Published.load()
    groups = [claim_findings(claim, runs.get(claim.protocol), published) for claim in load_claims()]
    assert [g.claim.id for g in groups if g.rows] == ["fullsup-evl-temporal"]
    tex, html = render(groups, mode="paper")
    assert re.findall(r'<li data-claim="([\w-]+)">', html) == [
        "b2n-vifi-vs-baselines", "zs-vifi-vs-baselines", "b2n-prompting", "fs-prompting", "fs-more-shots"
    ]  # fmt: skip
    assert "Not run here" in tex and "Demo run only" not in tex


def table_rows(html: str) -> list[tuple[str, list[str]]]:
    """(claim id, cell texts) of every finding row of the HTML table."""
    rows = re.findall(r'<tr class="finding" data-claim="([\w-]+)">(.*?)</tr>', html)
    return [(claim, re.findall(r"<td[^>]*>(.*?)</td>", cells)) for claim, cells in rows]


def test_html_table(all_findings: list[findings.ClaimFindings]) -> None:
    _, html = render(all_findings, mode="demo")
    rows = table_rows(html)
    assert [claim for claim, _ in rows] == [row[0] for row in EXPECTED]
    assert rows[0][1][:5] == ["UCF-101", "ViFi-CLIP vs CLIP image-FT", "+3.9", "+10.3", rows[0][1][4]]
    assert [cells[5] for _, cells in rows] == [row[5] for row in EXPECTED]
    assert [cells[6] for _, cells in rows] == [str(n) for n in RUNS_BEHIND]
    assert rows[1][1][2:5] == ["&mdash;", "+0.0", "[+0.0, +0.0]"]
    assert re.findall(r'class="verdict (\w+)"', html) == [
        "holds",
        "inconclusive",
        "holds",
        "fails",
        "inconclusive",
        "fails",
        "holds",
    ]
    assert "Demo run only" in html and "not-run" not in html


def test_latex_table(all_findings: list[findings.ClaimFindings]) -> None:
    tex, _ = render(all_findings, mode="paper", clusters="Clusters are 50% tighter & so on.")
    body = tex.split("\\midrule", 1)[1].split("\\bottomrule", 1)[0]
    lines = [line for line in body.splitlines() if line.endswith("\\\\")]
    assert len(lines) == len(EXPECTED)
    evl = all_findings[4].rows[0].ours
    assert lines[5] == (
        "On the temporal dataset, EVL is more accurate than ViFi-CLIP trained fully supervised (top-1). & "
        f"SSv2 & EVL (open-vocab head) vs ViFi-CLIP & --- & $-10.0$ & [${evl.lo:+.1f}$, ${evl.hi:+.1f}$] & "
        "does not hold & 1 \\\\"
    )
    assert evl.hi < 0
    assert lines[1].startswith(" & UCF-101 & ViFi-CLIP vs Vanilla CLIP & --- & $+0.0$ & [$+0.0$, $+0.0$] &")
    assert "Clusters are 50\\% tighter \\& so on." in tex and "Demo run only" not in tex


def test_cli_writes_both_files(csvs: dict[str, Path], tmp_path: Path) -> None:
    scores = tmp_path / "clusters.json"
    scores.write_text(json.dumps({"sentence": "Measured: tighter."}))
    out = tmp_path / "tables"
    metrics = [f"{protocol}={path}" for protocol, path in csvs.items()]
    argv = ["--mode", "demo", "--metrics", *metrics, "--clusters", str(scores)]
    assert (
        findings_stage.main(
            [*argv, "--out-tex", str(out / "findings.tex"), "--out-html", str(out / "findings.html")]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["findings.html", "findings.tex"]
    html = (out / "findings.html").read_text()
    assert len(table_rows(html)) == len(EXPECTED) and '<p class="clusters">Measured: tighter.</p>' in html


def test_cli_writes_the_rows_as_data_for_comparisons_between_runs(
    csvs: dict[str, Path], tmp_path: Path
) -> None:
    metrics = [f"{protocol}={path}" for protocol, path in csvs.items()]
    outs = ["--out-tex", str(tmp_path / "f.tex"), "--out-html", str(tmp_path / "f.html")]
    assert (
        findings_stage.main(
            ["--mode", "demo", "--metrics", *metrics, *outs, "--out-json", str(tmp_path / "f.json")]
        )
        == 0
    )
    rows = json.loads((tmp_path / "f.json").read_text())
    expected = {
        f"{claim} | {dataset} | {comparison}": (paper, verdict)
        for claim, dataset, comparison, paper, _, verdict in EXPECTED
    }
    assert {key: (row["paper"], row["verdict"]) for key, row in rows.items()} == expected
    behind = {
        f"{claim} | {dataset} | {comparison}": n
        for (claim, dataset, comparison, *_), n in zip(EXPECTED, RUNS_BEHIND, strict=True)
    }
    assert {key: row["runs"] for key, row in rows.items()} == behind
    assert all(row["lo"] <= row["ours"] <= row["hi"] for row in rows.values())


def started_from(path: Path, sha256: str) -> Path:
    """A metrics file whose model records the weights it was trained from, as `vifi train` stores them."""
    data = json.loads(path.read_text())
    data["provenance"]["train"] = {"stage": "train", "inputs": {"weights": {"path": "b.pt", "sha256": sha256}}}
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(("starts", "bridges"), [(("a", "a", "a"), 1), (("a", "b", "c"), 3)])
def test_the_caption_says_whether_prompting_resamples_its_bridge(
    tmp_path: Path, starts: tuple[str, ...], bridges: int
) -> None:
    """One bridge for every prompting run is a model no interval resamples; one per subset is resampled."""
    sets = {"base": (60.0, 100.0), "novel": (40.0, 100.0)}
    metrics = [
        started_from(write_metrics(tmp_path, "base2novel", "ucf101", method, f"seed{i}", sets), start)
        for method in ("prompt", "vifi")
        for i, start in enumerate(starts, 1)
    ]
    table = tmp_path / "base2novel.csv"
    argv = ["--protocol", "base2novel", "--out-csv", str(table), "--out-json", str(tmp_path / "x.json")]
    assert aggregate_stage.main([*argv, *map(str, metrics)]) == 0
    runs = read_runs({"base2novel": table})
    assert findings.bridges(runs) == bridges
    assert findings.bridges({"fullsup": runs["base2novel"][runs["base2novel"]["method"] != "prompt"]}) is None
    out = ["--out-tex", str(tmp_path / "f.tex"), "--out-html", str(tmp_path / "f.html")]
    assert findings_stage.main(["--mode", "demo", "--metrics", f"base2novel={table}", *out]) == 0
    for name in ("f.tex", "f.html"):
        caption = " ".join((tmp_path / name).read_text().split())
        shared = "(the pretrained CLIP, and prompting's bridge), and another machine's kernels train both"
        resampled = "Prompting's runs start from 3 bridges (one per training subset or K-shot draw)"
        assert (shared in caption, resampled in caption) == (bridges == 1, bridges == 3), name


def test_cli_names_a_missing_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "zeroshot.csv"
    argv = ["--mode", "demo", "--metrics", f"zeroshot={missing}", "--out-tex", "t.tex", "--out-html", "t.html"]
    assert findings_stage.main(argv) == 1
    assert f"{missing}: cannot read the zeroshot aggregate table" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        findings_stage.main(
            ["--mode", "demo", "--metrics", "ablation=a.csv", "--out-tex", "t", "--out-html", "h"]
        )
    assert "expected PROTOCOL=CSV" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{id: a, claim: c, protocol: zeroshot, metric: hm, compare: methods, better: vifi, than: [text]}",
         "metric of zeroshot must be one of top1"),
        ("{id: a, claim: c, protocol: fullsup, metric: top1, compare: shots}",
         "compare must be methods, or shots"),
        ("{id: a, claim: c, protocol: fullsup, metric: top1, compare: methods, better: vifi, than: [clip]}",
         "than must be one or more of vanilla"),
        ("{id: a, claim: c, protocol: fullsup, metric: top1, compare: methods, better: vifi}",
         "takes better and than"),
        ("{id: a, claim: c, protocol: fullsup, metric: top1, compare: shots, verdict: holds}",
         "unknown key(s) verdict"),
    ],
)  # fmt: skip
def test_malformed_claims_are_named(entry: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "claims.yaml"
    path.write_text(f"claims:\n  - {entry}\n")
    with pytest.raises(FindingsError, match=re.escape(f"{path}: claim 'a'") + ".*" + re.escape(message)):
        load_claims(path)


def test_results_page_embeds_the_findings(csvs: dict[str, Path], tmp_path: Path) -> None:
    tables = tmp_path / "results" / "tables"
    argv = ["--mode", "demo", "--metrics", f"fullsup={csvs['fullsup']}"]
    out = ["--out-tex", str(tables / "findings.tex"), "--out-html", str(tables / "findings.html")]
    assert findings_stage.main([*argv, *out]) == 0
    page = index.build_page(
        mode="demo",
        tables=[tables / "findings.html"],
        figures=[],
        metrics=[],
        out=tmp_path / "results/index.html",
    )
    assert '<a href="#table-findings">Findings: which of the papers&#39; claims hold</a>' in page
    assert '<section id="table-findings">' in page and 'class="verdict fails">does not hold</td>' in page
    assert "td.fails" in page  # the page's own style colours the verdicts


def test_paper_places_the_findings_and_the_measured_sentence() -> None:
    tex = paper.results_tex(
        [Path("results/tables/findings.tex"), Path("results/tables/zeroshot.tex")],
        [],
        [Path("results/figures/clusters_ucf101.tex")],
    )
    assert re.findall(r"^\\results\{(\w+)\}", tex, re.MULTILINE) == ["zeroshot", "findings"]
    assert "\\resultsnippet{clusters}{results/figures/clusters_ucf101.tex}" in tex
    text = DOCUMENT.read_text(encoding="utf-8")
    assert "\\printsnippet{clusters}" in text and "tighter" not in text


@pytest.mark.skipif(paper.missing_tex() is not None, reason="no TeX to build the paper")
def test_paper_builds_with_findings_and_sentence(
    all_findings: list[findings.ClaimFindings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "results/tables").mkdir(parents=True)
    (tmp_path / "results/figures").mkdir()
    (tmp_path / "paper").mkdir()
    (tmp_path / "paper/main.tex").write_text(DOCUMENT.read_text())
    (tmp_path / "results/tables/findings.tex").write_text(render(all_findings, mode="paper", clusters="C.")[0])
    sentence = clusters.sentence({"vanilla": 0.1, "vifi": 0.3}, "ucf101", 12)
    (tmp_path / "results/figures/clusters_ucf101.tex").write_text(latex_escape(sentence) + "\n")
    (tmp_path / "results/tables/zeroshot.tex").write_text(TABLE % "zeroshot")  # its section prints the sentence
    monkeypatch.chdir(tmp_path)
    tables = ["--tables", "results/tables/zeroshot.tex", "results/tables/findings.tex"]
    argv = ["--tex", "paper/main.tex", "--out", "paper/main.pdf", *tables]
    assert paper_stage.main([*argv, "--snippets", "results/figures/clusters_ucf101.tex"]) == 0
    assert (tmp_path / "paper/main.pdf").read_bytes().startswith(b"%PDF-")


@pytest.mark.parametrize(
    ("vifi", "vanilla", "expected"),
    [
        (0.31, 0.12, "form tighter clusters per class than those of the CLIP model it starts from "
                     "(0.31 against 0.12)."),
        (0.05, 0.2, "form looser clusters per class than those of the CLIP model it starts from "
                    "(0.05 against 0.20)."),
        (0.204, 0.196, "form clusters per class as tight as those of the CLIP model it starts from "
                       "(both 0.20)."),
    ],
)  # fmt: skip
def test_the_cluster_sentence_says_what_the_scores_say(vifi: float, vanilla: float, expected: str) -> None:
    text = clusters.sentence({"vanilla": vanilla, "vifi": vifi}, "ucf101", 40)
    assert text == (
        "Measured by the mean silhouette of the 40 embedded UCF-101 videos under their class labels (cosine "
        f"distance; higher is tighter), the video embeddings of the fine-tuned model {expected}"
    )


def embeddings(spread: float, seed: int) -> Embeddings:
    """Three classes of 10 unit vectors around three axes, `spread` the noise around each."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), 10)
    vectors = np.eye(8)[labels] + spread * rng.standard_normal((30, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return Embeddings(vectors.astype(np.float32), labels, ("a", "b", "c"), tuple(f"v{i}" for i in range(30)))


def test_clusters_cli_measures_both_models(tmp_path: Path) -> None:
    files = {"vanilla": tmp_path / "vanilla.npz", "vifi": tmp_path / "vifi.npz"}
    save_embeddings(files["vanilla"], embeddings(1.0, 0))
    save_embeddings(files["vifi"], embeddings(0.1, 1))
    out_json, out_tex = tmp_path / "clusters.json", tmp_path / "clusters.tex"
    argv = ["--dataset", "hmdb51", "--embeddings", *(f"{m}={p}" for m, p in files.items())]
    assert clusters_stage.main([*argv, "--out-json", str(out_json), "--out-tex", str(out_tex)]) == 0
    result = json.loads(out_json.read_text())
    assert result["silhouette"]["vifi"] > 0.8 > result["silhouette"]["vanilla"]
    assert (
        "form tighter clusters per class" in result["sentence"]
        and "30 embedded HMDB-51 videos" in result["sentence"]
    )
    assert out_tex.read_text() == latex_escape(result["sentence"]) + "\n"


def test_clusters_need_two_classes_and_the_same_videos(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one_class = embeddings(0.1, 0)
    save_embeddings(
        tmp_path / "a.npz", Embeddings(one_class.vectors, np.zeros(30, int), ("a",), one_class.keys)
    )
    save_embeddings(
        tmp_path / "b.npz", Embeddings(one_class.vectors, np.zeros(30, int), ("a",), one_class.keys)
    )
    argv = ["--dataset", "ucf101", "--out-json", str(tmp_path / "c.json"), "--out-tex", str(tmp_path / "c.tex")]
    assert (
        clusters_stage.main(
            [*argv, "--embeddings", f"vanilla={tmp_path / 'a.npz'}", f"vifi={tmp_path / 'b.npz'}"]
        )
        == 1
    )
    assert "a silhouette needs 2 to 29 classes, got 1" in capsys.readouterr().err
    shifted = embeddings(0.1, 0)
    save_embeddings(
        tmp_path / "b.npz", Embeddings(shifted.vectors, shifted.labels, shifted.classnames, ("x",) * 30)
    )
    save_embeddings(tmp_path / "a.npz", embeddings(0.1, 0))
    assert (
        clusters_stage.main(
            [*argv, "--embeddings", f"vanilla={tmp_path / 'a.npz'}", f"vifi={tmp_path / 'b.npz'}"]
        )
        == 1
    )
    assert "not the same videos" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()
