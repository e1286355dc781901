"""The benchmark entry point runs the cheap benchmarks end to end (`--quick`) and each writes its ratios.

`loader.py --quick` encodes and extracts videos and counts a ViT-B/16 step; it takes about 20 s on its own,
more than this suite's budget, so it is left to `benchmarks/run_all.py --quick`.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import tests.unit.test_report as report
from tests.conftest import ROOT, run
from vifi.models.pretrained import save_weights
from vifi.report.aggregate import aggregate_runs, load_runs, write_aggregate_csv

QUICK = {
    "extract_storage": [
        f"k400_over_budget_photo_{fmt}_m{m}" for fmt in ("jpeg90", "jpeg75", "raw") for m in (32, 16)
    ],
    "eval_text_cache": [f"cached_over_per_forward_vifi-tiny_{k}" for k in (51, 101, 400)],
    "gpu_step": [f"8f_{what}" for what in ("anchor_time_over_ours", "ours_mfu", "anchor_mfu")],
    "train_step": [
        "vifi-tiny_baseline_fraction_of_matmul_peak",
        *(
            f"vifi-tiny_{variant}_{what}_over_baseline"
            for variant in ("checkpointing", "math_attention", "channels_last")
            for what in ("time", "peak_memory")
        ),
    ],
}


def test_quick_benchmarks_write_positive_finite_ratios(tmp_path: Path) -> None:
    run(
        [sys.executable, "benchmarks/run_all.py", "--quick", "--out", str(tmp_path), "--only", *QUICK],
        cwd=ROOT,
        timeout=120,
    )
    for name, keys in QUICK.items():
        ratios = json.loads((tmp_path / f"{name}.json").read_text())["ratios"]
        assert sorted(ratios) == sorted(keys), name
        bad = {key: value for key, value in ratios.items() if not (math.isfinite(value) and value > 0)}
        assert not bad, f"{name}: {bad}"
    evaluation = json.loads((tmp_path / "eval_text_cache.json").read_text())["ratios"]
    assert evaluation["cached_over_per_forward_vifi-tiny_400"] > 1  # 400 prompts cost more than no prompts
    extract = json.loads((tmp_path / "extract_storage.json").read_text())["ratios"]
    # Fewer frames kept, fewer bytes; raw frames take more room than JPEG.
    assert extract["k400_over_budget_photo_jpeg90_m16"] < extract["k400_over_budget_photo_jpeg90_m32"]
    assert extract["k400_over_budget_photo_jpeg90_m16"] < extract["k400_over_budget_photo_raw_m16"]


def test_cross_kernel_comparison_reports_every_difference_and_changed_verdict(tmp_path: Path) -> None:
    """Two finished demos that differ in one number, one verdict and one tensor of the pretrained CLIP: the
    benchmark's comparison says so."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from cross_kernel import compare
    finally:
        sys.path.pop(0)
    runs = {}
    for name, top1, verdict in (("a", 50.0, "holds"), ("b", 49.5, "inconclusive")):
        folder = tmp_path / name
        (folder / "results/aggregates").mkdir(parents=True)
        (folder / "results/metrics").mkdir(parents=True)
        rows = f"dataset,method,top1,top5\nucf101,vifi,{top1},90.0\nucf101,image,40.0,80.0\n"
        (folder / "results/aggregates/fewshot.csv").write_text(rows)
        findings = {
            "c | UCF-101 | vifi vs image": {"verdict": verdict},
            "d | UCF-101 | K": {"verdict": "holds"},
        }
        (folder / "results/metrics/findings.json").write_text(json.dumps(findings))
        clip = torch.nn.Linear(2, 2)
        torch.nn.init.zeros_(clip.weight)
        torch.nn.init.constant_(clip.bias, top1)
        save_weights(clip, folder / "checkpoints/pretrained/vifi-tiny.pt")
        runs[name] = folder
    result = compare(runs["a"], runs["b"])
    assert result["numbers"] == 4 and result["identical_numbers"] == 3
    assert math.isclose(result["max_abs_difference"], 0.5)
    assert result["changed_verdicts"] == {"c | UCF-101 | vifi vs image": ["holds", "inconclusive"]}
    assert result["holds_in_one_run_only"] == ["c | UCF-101 | vifi vs image"]
    assert result["pretrained_differing_tensors"] == ["bias"]


def test_cross_kernel_fingerprints_name_each_input_and_ignore_the_archives_dates(tmp_path: Path) -> None:
    """Fingerprints tell two machines' runs apart where they first differ, and only there."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from cross_kernel import PRETRAINED, fingerprints
    finally:
        sys.path.pop(0)
    prints = []
    for name, frames in (("a", b"jpeg"), ("b", b"jpeg!")):
        folder = tmp_path / name
        (folder / "data/raw").mkdir(parents=True)
        (folder / "data/frames/k400").mkdir(parents=True)
        np.savez(folder / "data/raw/stills.npz", images=np.arange(6, dtype=np.uint8))
        (folder / "data/frames/k400/shard-0-of-1.bin").write_bytes(frames)
        clip = torch.nn.Linear(2, 2)
        for tensor in (clip.weight, clip.bias):
            torch.nn.init.zeros_(tensor)
        save_weights(clip, folder / PRETRAINED)
        prints.append(fingerprints(folder))
        time.sleep(2)  # a zip entry's time has 2-second resolution: the second archive's bytes differ
    assert list(prints[0]) == ["stills", "frames/k400", "pretrained"]
    assert {k for k in prints[0] if prints[0][k] != prints[1][k]} == {"frames/k400"}


def test_demo_sanity_holds_base_to_novel_test_sets_to_three_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interval check resamples test videos only: three subsets that disagree (base 80/90/100) on 2000
    videos pass, although the table's interval spans their spread; one run on 100 videos at 50% fails."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from demo_sanity import HALF_WIDTH, interval_checks
    finally:
        sys.path.pop(0)
    runs = tmp_path / "results"
    paths = [
        report.write_metrics(
            runs, "base2novel", "ucf101", "vifi", f"seed{s}", {"base": (b, 100.0), "novel": (n, 100.0)}
        )
        for s, (b, n) in enumerate([(80.0, 20.0), (90.0, 40.0), (100.0, 60.0)], start=1)
    ]
    monkeypatch.setattr(report, "VIDEOS", 100)
    paths.append(
        report.write_metrics(
            runs, "base2novel", "ucf101", "vanilla", "main", {"base": (50.0, 100.0), "novel": (50.0, 100.0)}
        )
    )
    table = aggregate_runs("base2novel", load_runs(paths, "base2novel"))
    write_aggregate_csv(runs / "aggregates" / "base2novel.csv", table)
    checks = {c.name.split(":")[0]: c for c in interval_checks(tmp_path)}
    vifi = checks["base2novel ucf101 vifi base"]
    # Per video the mean over the subsets is 1, 2/3 or 1/3 (80/10/10%): sd 0.213, so +-0.94 over 2000 videos.
    assert vifi.passed and math.isclose(vifi.value, 0.94, abs_tol=0.15)
    assert "the table's, subsets resampled too: 9" in vifi.bound  # the subsets' own spread, 80 to 100
    vanilla = checks["base2novel ucf101 vanilla novel"]
    assert not vanilla.passed and vanilla.value > 3 * HALF_WIDTH  # 1.96 * 50 / sqrt(100) = 9.8
