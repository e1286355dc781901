"""`vifi audit-effect`: each evaluation set's top-1 as released and by name, from the run's own predictions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vifi.data.lists.annotations import write_labels
from vifi.report.predictions import from_scores, write_predictions
from vifi.stages.audit_effect import main

NAMES = ["kick ball", "kick", "wave"]
# The released swap: kick_ball videos carry the id of `kick` and kick videos that of `kick ball`.
VIDEOS = [
    ("a_kick_ball_u_nm_np1_fr_goo_0.avi", 1),
    ("b_kick_u_nm_np1_fr_goo_0.avi", 0),
    ("c_wave_u_nm_np1_fr_goo_0.avi", 2),
    ("d_wave_u_nm_np1_fr_goo_1.avi", 2),
]


def run_folder(tmp_path: Path, predicted: list[int]) -> Path:
    """A run whose model predicted `predicted` for VIDEOS (one-hot probabilities)."""
    run = tmp_path / "results/runs/zeroshot/hmdb51/vifi/main"
    probs = np.eye(len(NAMES))[predicted]
    labels = np.array([label for _, label in VIDEOS])
    write_predictions(run / "predictions.csv", {"split1": from_scores([v for v, _ in VIDEOS], probs, labels)})
    meta = {"protocol": "zeroshot", "dataset": "hmdb51", "method": "vifi", "run": "main"}
    (run / "metrics.json").write_text(json.dumps({**meta, "predictions": "predictions.csv"}))
    return run


def effect(tmp_path: Path, predicted: list[int], policy: str = "as_released") -> str:
    run = run_folder(tmp_path, predicted)
    write_labels(tmp_path / "labels.csv", NAMES)
    (tmp_path / "videos.csv").write_text("path,name\n")
    out = tmp_path / "effect.html"
    case = [str(run), "split1", str(tmp_path / "labels.csv"), "hmdb51", str(tmp_path / "videos.csv")]
    args = ["--case", *case, "--policy", policy, "--mode", "paper"]
    assert main([*args, "--out-tex", str(tmp_path / "effect.tex"), "--out-html", str(out)]) == 0
    return out.read_text()


def cells(html: str) -> list[str]:
    row = html.split("<tbody>")[1].split("</tr>")[0]
    return [cell.split(">")[-1] for cell in row.split("</td>")[:-1]]


def test_a_model_that_sees_the_named_class_scores_higher_by_name(tmp_path: Path) -> None:
    """It predicts what the videos show: the two swapped videos are wrong as released, right by name."""
    row = cells(effect(tmp_path, predicted=[0, 1, 2, 2]))
    assert row == ["zeroshot", "HMDB-51", "ViFi-CLIP", "main", "split1", "4", "2", "50.0", "100.0", "+50.0"]


def test_a_model_that_learnt_the_released_ids_scores_lower_by_name(tmp_path: Path) -> None:
    row = cells(effect(tmp_path, predicted=[1, 0, 2, 0]))
    assert row[5:] == ["4", "2", "75.0", "25.0", "-50.0"]


def test_lists_that_agree_with_their_names_say_so_in_one_row(tmp_path: Path) -> None:
    video = "c_wave_u_nm_np1_fr_goo_0.avi"
    run = tmp_path / "run"
    write_predictions(run / "predictions.csv", {"val": from_scores([video], np.eye(3)[[2]], np.array([2]))})
    (run / "metrics.json").write_text(
        json.dumps(
            {
                "protocol": "fewshot",
                "dataset": "hmdb51",
                "method": "vifi",
                "run": "2shot",
                "predictions": "predictions.csv",
            }
        )
    )
    write_labels(tmp_path / "labels.csv", NAMES)
    (tmp_path / "videos.csv").write_text("path,name\n")
    case = [str(run), "val", str(tmp_path / "labels.csv"), "hmdb51", str(tmp_path / "videos.csv")]
    out = tmp_path / "e.html"
    assert main(["--case", *case, "--policy", "by_name", "--mode", "demo", "--out-tex", str(tmp_path / "e.tex"),
                 "--out-html", str(out)]) == 0  # fmt: skip
    html = out.read_text()
    assert (
        "In the 1 evaluation sets of this run, every list's ids agree" in html and "relabelled by name" in html
    )
    assert "<table" in html and "% Release audit" in (tmp_path / "e.tex").read_text()


def test_a_missing_set_is_one_line_without_a_traceback(tmp_path: Path, capsys) -> None:
    run = run_folder(tmp_path, [0, 1, 2, 2])
    write_labels(tmp_path / "labels.csv", NAMES)
    (tmp_path / "videos.csv").write_text("path,name\n")
    case = [str(run), "split2", str(tmp_path / "labels.csv"), "hmdb51", str(tmp_path / "videos.csv")]
    code = main([
        "--case", *case, "--policy", "as_released", "--mode", "paper",
        "--out-tex", str(tmp_path / "t"), "--out-html", str(tmp_path / "h"),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "no set 'split2'" in err and "Traceback" not in err
    assert not (tmp_path / "h").exists()
