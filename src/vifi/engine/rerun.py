"""Re-create a run's numbers from its metrics.json alone: check input hashes, retrain, re-evaluate, compare.

`vifi rerun` (`vifi.stages.rerun`) reads the record `vifi evaluate` wrote (`vifi.provenance`), checks that every
file the training and the evaluation read still has its recorded sha256, rebuilds the `vifi train` command from
the checkpoint's own record (none for vanilla CLIP) and the `vifi evaluate` command of that run, runs both with
their outputs in a scratch folder, and prints every metric old against new. On the machine and environment that
made the record the numbers are bit-identical (every random draw is a function of the recorded seeds); elsewhere
the differences are printed with what changed in the environment. Exit status: 0 when every number is identical,
1 when any differs, 2 on a bad record or input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from vifi import provenance


class RerunError(ValueError):
    """The record cannot be re-run: not a metrics file of this schema, or its inputs changed."""


def read_record(path: Path) -> dict[str, Any]:
    """The metrics file, checked to carry a provenance record `vifi rerun` can rebuild commands from."""
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise RerunError(f"{path}: cannot read a metrics file: {err}") from None
    prov = metrics.get("provenance") if isinstance(metrics, dict) else None
    if not isinstance(prov, dict) or prov.get("schema") != provenance.SCHEMA:
        found = prov.get("schema") if isinstance(prov, dict) else None
        raise RerunError(
            f"{path}: provenance schema {found!r}, expected {provenance.SCHEMA}; evaluate it again"
        )
    return metrics


def recorded_files(prov: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, str]]]:
    """(role, {path, sha256}) of every file the run read: the training's inputs, then the evaluation's (the
    trained weights excepted, which the re-run makes anew)."""
    train_record = prov["train"] if prov["train"] and prov["train"].get("stage") == "train" else None
    if train_record:
        for role, entry in train_record["inputs"].items():
            for one in entry if isinstance(entry, list) else [entry]:
                yield f"train {role}", one
    else:
        yield "evaluate weights", prov["inputs"]["weights"]
    for one in prov["inputs"]["frames"]:
        yield "evaluate frames", one
    for name, files in prov["inputs"]["eval"].items():
        for kind, one in files.items():
            yield f"evaluate {name} {kind}", one


def changed_inputs(prov: Mapping[str, Any]) -> list[str]:
    """One line per input that is missing or whose content is no longer what the record says."""
    problems = []
    for role, entry in recorded_files(prov):
        path = Path(entry["path"])
        if not path.is_file():
            problems.append(f"{role} {path}: missing")
        elif (found := provenance.sha256(path)) != entry["sha256"]:
            problems.append(f"{role} {path}: sha256 {found}, recorded {entry['sha256']}")
    return problems


def metric_rows(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """(set, metric, old, new) of every number of both files."""
    rows = []
    for name in sorted(set(old) | set(new)):
        before, after = old.get(name, {}), new.get(name, {})
        for key in sorted(set(before) | set(after)):
            rows.append((name, key, before.get(key), after.get(key)))
    return rows


def environment_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two records' code, packages and machine (why numbers may differ elsewhere)."""
    changes = []
    for key in ("git_commit", "device"):
        if old[key] != new[key]:
            changes.append(f"{key}: {old[key]} -> {new[key]}")
    for name in sorted(set(old["packages"]) | set(new["packages"])):
        before, after = old["packages"].get(name), new["packages"].get(name)
        if before != after:
            changes.append(f"package {name}: {before} -> {after}")
    return changes


def report(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, bool]:
    """The old-against-new table and whether every number is identical."""
    rows = metric_rows(old["metrics"], new["metrics"])
    lines = [f"{'set':<10} {'metric':<8} {'recorded':>22} {'re-run':>22}  same"]
    for name, key, before, after in rows:
        lines.append(f"{name:<10} {key:<8} {before!s:>22} {after!s:>22}  {'yes' if before == after else 'NO'}")
    same = all(before == after for _, _, before, after in rows)
    changes = environment_changes(old["provenance"], new["provenance"])
    lines += ["", "environment: " + ("as recorded" if not changes else f"{len(changes)} differences"), *changes]
    return "\n".join(lines), same
