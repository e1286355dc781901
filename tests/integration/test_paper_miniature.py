"""Paper mode end to end on miniatures of the five datasets in their published packaging.

`workflow/configs/paper.yaml`, with only sizes changed (tests/integration/paper_miniature.yaml), runs every
protocol: each dataset is downloaded from a local HTTPS server as its publisher packages it (UCF-101 as a RAR
and a zip, HMDB-51 as a RAR of RARs, Kinetics as URL lists of tar.gz parts, SSv2 as split parts placed by hand),
verified and extracted; its official annotation files become lists; the miniature release (`official`, with the
released HMDB-51 lists' swapped ids) is resolved onto the videos and audited; an OpenAI-format checkpoint of a
tiny architecture is downloaded and loaded by its shapes; every method trains and is evaluated; the tables
compare with the published numbers.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import open_clip
import pytest
import torch
import yaml

from tests.conftest import ROOT, run
from tests.integration.conftest import copy_checkout
from tests.integration.test_paper_data import https_server, self_signed_cert, write_yaml
from tests.miniatures import MINIATURES, generate, write_release
from tests.published import package, test_registry
from vifi.data.lists.annotations import read_labels
from vifi.data.lists.lists import paper_label_file
from vifi.data.lists.official import match_key

pytestmark = pytest.mark.integration

OVERRIDE = ROOT / "tests/integration/paper_miniature.yaml"
PARTS = 2
# A CLIP of a size open_clip does not ship: the pipeline must read its architecture from the checkpoint.
TINY_CLIP = {
    "embed_dim": 32,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1},
}


@dataclass(frozen=True)
class PaperRun:
    repo: Path
    out: str
    served: dict[str, Path]
    requested: list[str]


def openai_checkpoint(path: Path) -> Path:
    """A plain OpenAI-format state dict (float16, with OpenAI's three scalars) of the tiny CLIP."""
    torch.manual_seed(0)
    state = {k: v.half() for k, v in open_clip.CLIP(**TINY_CLIP).state_dict().items()}
    state |= {
        "input_resolution": torch.tensor(32),
        "context_length": torch.tensor(77),
        "vocab_size": torch.tensor(49408),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> PaperRun:
    base = tmp_path_factory.mktemp("paper-miniature")
    raws = {dataset: generate(dataset, base / "raw" / dataset) for dataset in MINIATURES}
    repo = base / "repo"
    copy_checkout(repo)
    write_release(raws, repo / "reference/official", base / "release-lists")
    cert, key = self_signed_cert(base)
    served_dir = base / "served"
    with https_server(served_dir, cert, key) as (url, requested), pytest.MonkeyPatch.context() as env:
        served = {}
        for dataset, raw in raws.items():
            served |= package(MINIATURES[dataset][0], raw, served_dir, url, parts=PARTS)
        served["weights/ViT-B-16.pt"] = openai_checkpoint(served_dir / "weights/ViT-B-16.pt")
        for name, path in served.items():  # SSv2 needs an account: its files are placed by hand
            if name.startswith("ssv2/"):
                (repo / "manual").mkdir(exist_ok=True)
                shutil.copy(path, repo / "manual" / name.removeprefix("ssv2/"))
        write_yaml(repo / "tiny-registry.yaml", test_registry(url, served, PARTS))
        env.setenv("REQUESTS_CA_BUNDLE", str(cert))
        run(["git", "init", "-q"], cwd=repo)
        run(["git", "add", "-A"], cwd=repo)
        run(["git", "commit", "-qm", "paper miniature"], cwd=repo)
        configs = ["--configfile", "workflow/configs/paper.yaml", str(OVERRIDE)]
        done = run(["snakemake", "--cores", "2", *configs], cwd=repo, timeout=900)
        again = run(["snakemake", "-n", *configs], cwd=repo)
    return PaperRun(repo, done.stdout + done.stderr + again.stdout, served, requested)


def test_every_dataset_is_downloaded_from_its_published_packaging(paper: PaperRun) -> None:
    raw = paper.repo / "data/raw"
    assert (raw / "ucf101/videos/UCF-101/YoYo").is_dir() and (
        raw / "ucf101/ucfTrainTestlist/classInd.txt"
    ).is_file()
    assert (raw / "hmdb51/videos/kick_ball").is_dir() and (raw / "hmdb51/testTrainMulti_7030_splits").is_dir()
    assert any(p.name.startswith("-") for p in (raw / "k400/videos/train").iterdir())
    assert (raw / "k600/annotations/train.txt").is_file()
    assert len(list((raw / "ssv2/videos/20bn-something-something-v2").glob("*.webm"))) == 22
    fetched = {path.lstrip("/") for path in paper.requested}
    assert "ucf101/UCF101.rar" in fetched and "hmdb51/hmdb51_org.rar" in fetched
    assert not any(name.startswith("ssv2/") for name in fetched)  # placed by hand, never fetched
    assert (paper.repo / "checkpoints/pretrained/ViT-B-16.pt").read_bytes() == paper.served[
        "weights/ViT-B-16.pt"
    ].read_bytes()


def test_broken_videos_are_quarantined_and_their_lines_reported(paper: PaperRun) -> None:
    with open(paper.repo / "data/frames/ucf101/quarantine.csv", newline="") as fh:
        assert [row["video"] for row in csv.DictReader(fh)] == ["UCF-101/Archery/v_Archery_g01_c002.avi"]
    with open(paper.repo / "data/frames/k400/quarantine.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 1
    missing = json.loads((paper.repo / "data/splits/ucf101/zeroshot/missing_videos.json").read_text())
    assert missing["lists"]["split1_val.txt"]["quarantined"] == 1


def test_lists_come_from_the_official_annotation_files(paper: PaperRun) -> None:
    lists = paper.repo / "data/lists"
    counts = {d: len((lists / d / "val1.txt").read_text().splitlines()) for d in MINIATURES}
    assert counts == {"ucf101": 8, "hmdb51": 8, "k400": 8, "k600": 17, "ssv2": 8}
    k600 = read_labels(lists / "k600/labels.csv")  # the zero-shot classes: Kinetics-600's new ones
    assert "acting in play" in k600 and "archery" not in k600
    assert not {match_key(n) for n in k600} & {match_key(n) for n in read_labels(paper_label_file("k400"))}
    train = (paper.repo / "data/splits/k400/full/train.txt").read_text().splitlines()
    assert len(train) == 14 and any(line.startswith("replacement/") for line in train)


def test_the_audit_reports_the_released_hmdb_swap_and_tables_note_it(paper: PaperRun) -> None:
    audit = json.loads((paper.repo / "data/splits/hmdb51/zeroshot/audit.json").read_text())
    assert audit["policy"] == "as_released" and audit["totals"]["disagreeing"] == 24
    assert "kick ball <-> kick" in audit["summary"] and "sword exercise <-> sword" in audit["summary"]
    clean = json.loads((paper.repo / "data/splits/ucf101/base2novel/audit.json").read_text())
    assert clean["totals"]["disagreeing"] == 0 and clean["totals"]["checked"] > 0
    html = (paper.repo / "results/tables/zeroshot.html").read_text()
    assert "Release audit" in html and "HMDB-51" in html and "kick ball" in html


def test_both_policies_are_scored_side_by_side(paper: PaperRun) -> None:
    """Every HMDB-51 miniature class is in a swapped pair: each of its evaluations is relabelled whole."""
    html = (paper.repo / "results/tables/audit_effect.html").read_text()
    rows = [row for row in html.split("<tr>")[2:] if "HMDB-51" in row]
    assert rows and all("<td>8</td><td>8</td>" in row or "<td>4</td><td>4</td>" in row for row in rows), rows
    assert not any("UCF-101" in row for row in html.split("<tr>")[2:])
    assert (
        "Release audit: every evaluation as released and by name"
        in (paper.repo / "results/index.html").read_text()
    )


def test_every_protocol_trains_evaluates_and_compares_with_the_paper(paper: PaperRun) -> None:
    for table in ("base2novel", "prompting", "zeroshot", "fewshot", "fullsup", "evl_vs_vifi"):
        html = (paper.repo / f"results/tables/{table}.html").read_text()
        assert "Paper" in html and "&Delta;" in html, table
    base2novel = (paper.repo / "results/tables/base2novel.html").read_text()
    assert "92.9" in base2novel  # the paper's ViFi-CLIP UCF-101 base accuracy, beside ours
    metrics = json.loads((paper.repo / "results/runs/fullsup/k400/evl/main/metrics.json").read_text())
    assert metrics["provenance"]["params"]["arch"] == "openai"
    assert "Nothing to be done" in paper.out or re.search(r"total\s+0\b", paper.out), paper.out[-2000:]


def test_the_config_overrides_only_sizes_and_sources() -> None:
    override = yaml.safe_load(OVERRIDE.read_text())
    assert set(override) <= {
        "data", "extract", "model", "train", "zeroshot", "base2novel", "fewshot", "fullsup", "prompt", "evl",
        "recipes", "evaluate",
    }  # fmt: skip
    assert "official" not in override and "source" not in override["data"]
