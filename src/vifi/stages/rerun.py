"""`vifi rerun`: re-create a run's numbers from its metrics.json alone and compare them with the recorded ones.

Usage:
    vifi rerun results/runs/<protocol>/<dataset>/<method>/<run>/metrics.json [--scratch DIR]

Exit status: 0 when every number is identical, 1 when any differs, 2 on a bad record or input. What is checked
and why the numbers can be bit-identical: `vifi.engine.rerun`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vifi.engine import rerun as rerun_library
from vifi.engine.rerun import RerunError, changed_inputs, read_record, report
from vifi.stages import evaluate, train
from vifi.stages.argtypes import command_line


def commands(prov: Mapping[str, Any], scratch: Path) -> tuple[list[str] | None, list[str]]:
    """The `vifi train` (None for an untrained model) and `vifi evaluate` arguments of the run, writing into
    `scratch`; everything else exactly as recorded."""
    record = prov["train"] if prov["train"] and prov["train"].get("stage") == "train" else None
    params = dict(prov["params"])
    train_argv = None
    if record:
        args = {**record["args"], "out": str(scratch / "model.pt"), "log_csv": str(scratch / "train_log.csv")}
        train_argv = command_line(train.parser(), args)
        params["weights"] = args["out"]
    params |= {"out": str(scratch / "metrics.json"), "predictions": str(scratch / "predictions.csv")}
    return train_argv, command_line(evaluate.build_parser(), params)


def rerun(path: Path, scratch: Path) -> tuple[str, bool]:
    """Check, retrain, re-evaluate into `scratch`; the report and whether the numbers are identical."""
    old = read_record(path)
    problems = changed_inputs(old["provenance"])
    if problems:
        raise RerunError(f"{path}: inputs differ from the record:\n  " + "\n  ".join(problems))
    train_argv, eval_argv = commands(old["provenance"], scratch)
    if train_argv is not None:
        train.main(train_argv)
    evaluate.main(eval_argv)
    return report(old, json.loads((scratch / "metrics.json").read_text(encoding="utf-8")))


def main(argv: Sequence[str] | None = None) -> int:
    """`vifi rerun`."""
    parser = argparse.ArgumentParser(prog="vifi rerun", description=rerun_library.__doc__.splitlines()[0])
    parser.add_argument("metrics", type=Path, help="a run's metrics.json")
    parser.add_argument("--scratch", type=Path, help="folder for the new model and metrics (default: a temp)")
    args = parser.parse_args(argv)
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="vifi-rerun-"))
    try:
        text, same = rerun(args.metrics, scratch)
    except RerunError as err:
        parser.exit(2, f"vifi rerun: {err}\n")
    print(f"{args.metrics} re-run in {scratch}\n{text}")
    return 0 if same else 1
