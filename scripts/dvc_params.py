"""Which params.yaml keys each DVC stage depends on, found by changing each key and seeing which jobs change.

A DVC stage must re-run exactly when Snakemake would re-run one of its jobs for a params change: when a job's
command (its rendered params), its inputs or the set of jobs changes. So the list is derived, not read from the
rules: each key gets a valid new value (`perturb`, checked against the params schema), a forced dry run with
that value over params.yaml is compared job by job with the unchanged one, and the stages whose jobs differ
depend on the key. Hand-kept lists drifted: `report` missed the audit policy its audit table follows and listed
the recipes and prompt counts, which none of its jobs reads; `prepare` listed `fullsup`, which none of its jobs
reads either, so changing a fully supervised setting re-ran it and regenerated every split list.

Keys are taken a top-level section at a time, and a section is split into its keys (recursively) only where it
reaches `prepare` and another stage: a needless `prepare` re-run regenerates every split list (not persisted)
and so makes every later job stale, where a needless re-run of the other stages costs one Snakemake no-op.

    python scripts/dvc_params.py   # print each stage's keys (scripts/dvc_yaml.py writes them into dvc.yaml)
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from workflow_jobs import ROOT, baseline, jobs

Key = tuple[str, ...]
# Values that must name something that exists: no generic change is valid for them.
NAMED: dict[str, Callable[[Path], Any]] = {
    "official": lambda scratch: str(ROOT / "src/vifi/data/lists/labels"),
    "data.registry": lambda scratch: str(ROOT / "src/vifi/data/acquire/registry.yaml"),
    "data.manual_dir": lambda scratch: str(scratch),
    "data.registry_key.k400": lambda scratch: "kinetics600",
    "data.registry_key.k600": lambda scratch: "kinetics400",
    "fewshot.datasets": lambda scratch: ["hmdb51"],
    "synthetic.datasets.k600.exclude_from": lambda scratch: "hmdb51",
    "model.weights": lambda scratch: _file(scratch / "weights.pt"),
    "bridge.weights": lambda scratch: _file(scratch / "bridge.pt"),
}

# Keys the dataset catalog allows one value for (only k400 is a zero-shot source): nothing to change, so no
# stage lists them; changing them takes a catalog edit, which is a code dependency of every stage.
FIXED = {"zeroshot.source"}


def _file(path: Path) -> str:
    path.touch()
    return str(path)


def _drops_entry(node: dict, value: dict) -> bool:
    """A map keyed by names (`propertyNames`) of plain values may lose an entry; a map of settings objects
    (a dataset's synthetic world, a method's recipe) may not, as other sections name them."""
    plain = not any(isinstance(v, dict) for v in value.values())
    return "propertyNames" in node and plain and len(value) > node.get("minProperties", 0)


def _schema_at(schema: dict, key: Key) -> dict:
    node = schema
    for part in key:
        child = node.get("properties", {}).get(part, node.get("additionalProperties"))
        node = child if isinstance(child, dict) else {}
    return node


def _definition(schema: dict, node: dict) -> dict:
    """The shared definition a node refers to (`$ref: "#/$defs/NAME"`, a kernel pin's enum say), or nothing."""
    ref = node.get("$ref", "")
    return schema["$defs"][ref.removeprefix("#/$defs/")] if ref.startswith("#/$defs/") else {}


def _number(value: float, node: dict) -> float:
    """value moved by one step (the schema's `multipleOf`, else 1 or half), kept within its bounds."""
    step = node.get("multipleOf", 1 if isinstance(value, int) else (value / 2 or 0.5))

    inf = float("inf")
    low, high = node.get("minimum", -inf), node.get("maximum", inf)
    above, below = node.get("exclusiveMinimum", -inf), node.get("exclusiveMaximum", inf)

    def valid(x: float) -> bool:
        return low <= x <= high and above < x < below

    return next(x for x in (value + step, value - step, value + step / 2, value - step / 2) if valid(x))


def perturb(value: Any, key: Key, schema: dict, scratch: Path) -> Any:
    """A different value for `key` that the schema and the workflow accept (every leaf of a section changed)."""
    dotted = ".".join(key)
    if dotted in FIXED:
        return value
    if dotted in NAMED:
        return NAMED[dotted](scratch)
    node = _schema_at(schema, key)
    if isinstance(value, dict):
        changed = {k: perturb(v, (*key, k), schema, scratch) for k, v in value.items()}
        if _drops_entry(node, changed):  # a dataset's own entry (a grid row, a data source) gone too
            changed.popitem()
        return changed
    choices = node.get("enum") or _definition(schema, node).get("enum")
    if choices:
        return next(e for e in choices if e != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return _number(value, node)
    if isinstance(value, list):  # one item fewer (a seed, a K, a dataset), else each item changed
        items = node.get("items", {})
        if len(value) > node.get("minItems", 1):
            return value[:-1]
        if value and isinstance(value[0], str):
            others = [e for e in items.get("enum", []) if e not in value]
            if not others:
                raise _no_change(dotted, value)
            return [*value, others[0]]
        return [_number(v, items) for v in value]
    if value is None and "integer" in node.get("type", []):
        return 2
    if isinstance(value, str):
        return value + "x"
    raise _no_change(dotted, value)


def _no_change(dotted: str, value: Any) -> ValueError:
    return ValueError(f"params.yaml key {dotted!r}: no valid change known for {value!r}; add one to NAMED")


def _override(key: Key, value: Any) -> dict:
    for part in reversed(key):
        value = {part: value}
    return value


def targets(stages: dict) -> dict[str, tuple[str, ...]]:
    """Each DVC stage's Snakemake targets, from its `snakemake TARGET...` command."""
    return {name: tuple(stage["cmd"].split()[1:]) for name, stage in stages.items()}


def place(stages: dict, config: dict | None, stage_of: dict[str, str], root: Path) -> None:
    """Give each rule not yet in `stage_of` the first stage whose targets run it, under `config`."""
    for name, wanted in stages.items():
        for rule, _ in jobs(wanted, config, root) if config else baseline(wanted, root):
            stage_of.setdefault(rule, name)


def stage_params(stages: dict[str, tuple[str, ...]], root: Path = ROOT) -> dict[str, list[str]]:
    """For each stage (name -> its Snakemake targets, in pipeline order), the params.yaml keys it depends on."""
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    schema = yaml.safe_load((root / "workflow/schemas/params.schema.yaml").read_text(encoding="utf-8"))
    stage_of: dict[str, str] = {}
    place(stages, None, stage_of, root)
    everything = tuple(t for wanted in stages.values() for t in wanted)
    base = baseline(everything, root)
    found: dict[str, list[str]] = {name: [] for name in stages}
    first = next(iter(stages))
    with tempfile.TemporaryDirectory() as scratch:

        def reached(key: Key, value: Any) -> set[str]:
            config = _override(key, perturb(value, key, schema, Path(scratch)))
            try:
                new = jobs(everything, config, root)
            except Exception as err:  # Snakemake's and the catalog's own errors: name the key that caused them
                dotted = ".".join(key)
                raise RuntimeError(f"the dry run with {config} failed; give {dotted} a valid change") from err
            if {rule for rule, _ in new} - stage_of.keys():  # rules it brings in (download, for real data)
                place(stages, config, stage_of, root)
            changed = base.keys() | new.keys()
            return {stage_of[rule] for rule, out in changed if base.get((rule, out)) != new.get((rule, out))}

        def visit(key: Key, value: Any) -> None:
            hit = reached(key, value)
            if isinstance(value, dict) and first in hit and len(hit) > 1:
                for child, sub in value.items():
                    visit((*key, child), sub)
                return
            for name in hit:
                found[name].append(".".join(key))

        for section, value in params.items():
            visit((section,), copy.deepcopy(value))
    return found


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    for name, keys in stage_params(targets(dvc)).items():
        print(f"{name}: {' '.join(keys)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
