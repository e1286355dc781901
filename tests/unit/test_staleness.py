"""Staleness is derived from the code: each job's code inputs are exactly what its shell command imports and
reads, and editing one of them re-runs exactly the jobs that use it (and what depends on their outputs).

The expected closures do not come from `vifi.codedeps` (what the workflow uses) but from running the imports:
a subprocess imports every module the jobs' commands run and records each `vifi` import as it executes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run, tool_env
from vifi.__main__ import STAGES

# Adds the two rules the demo DAG lacks: a real dataset's download and a registry checkpoint's.
EVERY_RULE = {
    "data": {"source": {"hmdb51": "real"}},
    "bridge": {"weights": "checkpoints/pretrained/ViT-B-16.pt"},
}
PACKAGE = "src/vifi/"

# Records every `vifi` import as it executes: importer -> imported modules (and the packages on the way).
TRACER = r"""
import builtins, importlib, json, sys
edges, real = {}, builtins.__import__

def spy(name, globals=None, locals=None, fromlist=(), level=0):
    module = real(name, globals, locals, fromlist, level)
    importer = (globals or {}).get("__name__", "")
    if importer.split(".")[0] == "vifi" and name.split(".")[0] == "vifi" and level == 0:
        parts = name.split(".")
        found = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        found |= {f"{name}.{n}" for n in fromlist or () if f"{name}.{n}" in sys.modules}
        edges.setdefault(importer, set()).update(found)
    return module

builtins.__import__ = spy
for name in sys.argv[1:]:
    importlib.import_module(name)
if "vifi.models.factory" in sys.modules:  # building a model imports its catalog entry's class by name
    from vifi.catalog.methods import methods
    for entry in methods().values():
        entry.model_class()
        edges.setdefault("vifi.models.factory", set()).add(entry.model.partition(":")[0])
files = {m: getattr(mod, "__file__", None) for m, mod in sys.modules.items() if m.split(".")[0] == "vifi"}
json.dump({"edges": {k: sorted(v) for k, v in edges.items()}, "files": files}, sys.stdout)
"""


@dataclass(frozen=True)
class Job:
    rule: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    reason: str
    shell: str


def dry_run(cwd: Path, *args: str) -> list[Job]:
    """The jobs of `snakemake -n -p <args>`, parsed from its listing."""
    out = run(["snakemake", "-n", "-p", *args], cwd=cwd).stdout
    jobs = []
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?rule )", out)[1:]:
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M).group(1)
        field = {k: v for k, v in re.findall(r"^    (\w+): (.*)$", block, re.M)}
        shell = re.search(r"^Shell command: (.*)$", block, re.M)
        jobs.append(
            Job(
                rule,
                tuple(p.strip() for p in field.get("input", "").split(",") if p.strip()),
                tuple(p.strip() for p in field.get("output", "").split(",") if p.strip()),
                field.get("reason", ""),
                shell.group(1) if shell and shell.group(1) != "None" else "",
            )
        )
    return jobs


def entries(shell: str) -> tuple[str, ...]:
    """The modules a command runs: `python -m vifi <stage>` (__main__ and the stage's) or `python -m vifi.x`."""
    found = []
    for module, word in re.findall(r"python -m (vifi[\w.]*)(?: (\S+))?", shell):
        found += ["vifi.__main__", STAGES[word][0]] if module == "vifi" else [module]
    return tuple(found)


def write_config(folder: Path) -> Path:
    path = folder / "every_rule.yaml"
    path.write_text(yaml.safe_dump(EVERY_RULE))
    return path


@pytest.fixture(scope="module")
def jobs(tmp_path_factory) -> list[Job]:
    config = write_config(tmp_path_factory.mktemp("config"))
    return [j for j in dry_run(ROOT, "-F", "all", "--configfile", str(config)) if j.shell]


@pytest.fixture(scope="module")
def traced(jobs) -> dict:
    """Import edges and source files of every module the jobs run, recorded while importing them."""
    modules = sorted({m for job in jobs for m in entries(job.shell)})
    proc = subprocess.run(
        [sys.executable, "-c", TRACER, *modules],
        cwd=ROOT,
        env=tool_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout)


def traced_files(traced: dict, roots: tuple[str, ...]) -> set[str]:
    """The source files (relative to the repository) that importing `roots` executed."""
    todo, seen = [*roots, *(p for r in roots for p in _parents(r))], set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += traced["edges"].get(name, [])
    return {Path(traced["files"][m]).resolve().relative_to(ROOT).as_posix() for m in seen}


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def code_inputs(job: Job) -> set[str]:
    return {p for p in job.inputs if p.startswith(PACKAGE) and p.endswith(".py")}


def data_inputs(job: Job) -> set[str]:
    return {p.removeprefix(PACKAGE) for p in job.inputs if p.startswith(PACKAGE) and not p.endswith(".py")}


def test_every_jobs_code_inputs_are_the_modules_its_command_imports(jobs, traced):
    """All 30 job rules, each job's declared modules against the imports that really ran (the issue's example:
    `embed` listed 6 of 17 and missed vificlip, evl, prompts, pretrained)."""
    checked = {}
    for job in jobs:
        expected = traced_files(traced, entries(job.shell))
        assert code_inputs(job) == expected, (job.rule, sorted(code_inputs(job) ^ expected))
        checked[job.rule] = expected
    modules = set().union(*checked.values())
    print(f"\n{len(checked)} rules, {len(modules)} modules checked")
    assert len(checked) == 30
    embed = checked["embed"]
    assert {f"{PACKAGE}models/{m}.py" for m in ("vificlip", "evl", "prompts", "pretrained")} <= embed


def test_packaged_data_files_are_inputs_of_the_jobs_that_read_them(jobs):
    """The report's published numbers and claims, the registry, the paper's label CSVs and the model configs."""
    labels = {
        f"data/lists/labels/{p}_labels.csv"
        for p in ("hmdb_51", "ucf_101", "kinetics_400", "kinetics_600", "ssv2")
    }
    # Each kind of catalog entry reaches only the stages that read it: a new method re-runs no data stage.
    methods, datasets = {"catalog/methods.yaml"}, {"catalog/datasets.yaml"}
    expected = {
        "render": {"report/published.yaml"} | methods | datasets,
        "findings": {"report/published.yaml", "report/findings.yaml"} | methods | datasets,
        "download": {"data/acquire/registry.yaml"},
        "download_weights": {"data/acquire/registry.yaml"},
        "lists": labels | datasets,
        "synthesize": labels | datasets,
        "extract": set(),
        "pretrain": {"models/configs/vifi-tiny.json"},
        "train": {"models/configs/vifi-tiny.json"} | labels | methods | datasets,
        "evaluate_seeds": {"models/configs/vifi-tiny.json"} | labels | methods | datasets,
        "flops": {"models/configs/vifi-tiny.json"} | methods,
        "aggregate": methods | datasets,
    }
    for job in jobs:
        if job.rule in expected:
            assert {d for d in data_inputs(job) if not d.startswith("report/templates/")} == expected[job.rule]


def test_each_table_job_depends_on_its_own_templates_only(jobs):
    """Editing one table's template re-renders that table (its pair and the shared `_table` layout)."""
    for job in (j for j in jobs if j.rule == "render"):
        table = re.search(r"--table (\w+)", job.shell).group(1)
        templates = {d for d in data_inputs(job) if d.startswith("report/templates/")}
        assert templates == {
            f"report/templates/{n}.{ext}.j2" for n in (table, "_table") for ext in ("tex", "html")
        }


# ---- Touching files: Snakemake's own verdict ---------------------------------------------------------------


class Dag:
    """The jobs of a forced dry run and what each depends on."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self.producer = {o: j for j in jobs for o in j.outputs}
        self._upstream: dict[str, list[Job]] = {}

    def upstream(self, job: Job) -> list[Job]:
        """Every job whose outputs `job` needs, directly or through others."""
        key = job.outputs[0]
        if key not in self._upstream:
            direct = {self.producer[i].outputs[0]: self.producer[i] for i in job.inputs if i in self.producer}
            found = dict(direct)
            for up in direct.values():
                found.update((u.outputs[0], u) for u in self.upstream(up))
            self._upstream[key] = list(found.values())
        return self._upstream[key]

    def first_readers(self, files: set[str]) -> list[Job]:
        """Jobs that read one of `files` while no job they depend on does: Snakemake names the files in their
        reason, whereas it re-runs the others because an input is remade."""
        return [
            j
            for j in self.jobs
            if files & set(j.inputs) and not any(files & set(u.inputs) for u in self.upstream(j))
        ]

    def stale(self, files: set[str]) -> set[str]:
        """First outputs of the jobs that read one of `files` and of every job that depends on one of them."""
        return {
            j.outputs[0]
            for j in self.jobs
            if files & set(j.inputs) or any(files & set(u.inputs) for u in self.upstream(j))
        }


def touch_groups(dag: Dag) -> tuple[list[set[str]], set[str]]:
    """Groups of package files to touch together, and the rules they re-run directly.

    Every rule that can be is re-run directly by some group: one of its jobs reads a file of the group that no
    job it depends on reads (per rule, the file that the fewest jobs read). Files share a group when none of
    them is read upstream of another's first readers, so each run still shows which file re-ran which job.
    Every rule can be reached this way, because every stage has a command-line module of its own
    (`vifi.stages.<stage>`) that no job upstream of it reads.
    """
    files = sorted({p for j in dag.jobs for p in j.inputs if p.startswith(PACKAGE)})
    reach = {f: {j.rule for j in dag.first_readers({f})} for f in files}
    observable = set().union(*reach.values())
    readers = {f: sum(f in j.inputs for j in dag.jobs) for f in files}
    chosen: list[str] = []
    for rule in sorted(observable):
        if not any(rule in reach[f] for f in chosen):  # a file few jobs read fits in more groups
            chosen.append(min((f for f in files if rule in reach[f]), key=lambda f: (readers[f], f)))
    groups: list[set[str]] = []
    for f in chosen:
        fits = (
            g
            for g in groups
            if {j.rule for j in dag.first_readers(g | {f})} == set().union(*(reach[x] for x in g | {f}))
        )
        group = next(fits, None)
        if group is None:
            groups.append({f})
        else:
            group.add(f)
    return groups, observable


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, list[Job], str]:
    """A copy of the workflow with every input and output present and up to date (all the same old mtime)."""
    root = tmp_path_factory.mktemp("built")
    for part in ("workflow", "src", "paper/main.tex", "params.yaml"):
        copy = shutil.copytree if (ROOT / part).is_dir() else shutil.copy
        (root / part).parent.mkdir(parents=True, exist_ok=True)
        copy(ROOT / part, root / part)
    config = str(write_config(root))
    jobs = [j for j in dry_run(root, "-F", "all", "--configfile", config) if j.outputs]
    for path in {p for j in jobs for p in (*j.inputs, *j.outputs)}:
        target = root / path
        if "." in target.name:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        else:  # directory() outputs: data/raw/<ds>, data/lists/<ds>
            target.mkdir(parents=True, exist_ok=True)
    old = time.time() - 3600
    for folder, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            os.utime(os.path.join(folder, name), (old, old))
    return root, jobs, config


def rerun(root: Path, config: str) -> dict[str, str]:
    """First output -> reason of each job Snakemake would re-run by modification times."""
    found = dry_run(root, "all", "--configfile", config, "--rerun-triggers", "mtime")
    return {j.outputs[0]: j.reason for j in found if j.outputs}


def test_touching_files_reruns_exactly_the_jobs_that_read_them(built):
    """Every job rule is re-run by touching a file it reads, naming that file, and no job is re-run that neither
    reads a touched file nor depends on a job that does."""
    root, jobs, config = built
    assert rerun(root, config) == {}
    dag = Dag(jobs)
    groups, observable = touch_groups(dag)
    reached: set[str] = set()
    for group in groups:
        stamps = {f: (root / f).stat().st_mtime for f in group}
        for f, stamp in stamps.items():
            os.utime(root / f, (stamp + 60, stamp + 60))
        try:
            found = rerun(root, config)
        finally:
            for f, stamp in stamps.items():
                os.utime(root / f, (stamp, stamp))
        assert set(found) == dag.stale(group), sorted(group)
        named = {
            o: set(reason.removeprefix("Updated input files: ").split(", "))
            for o, reason in found.items()
            if reason.startswith("Updated input files: ")
        }
        assert named == {j.outputs[0]: group & set(j.inputs) for j in dag.first_readers(group)}, sorted(group)
        reached |= {dag.producer[o].rule for o in named}
    print(
        f"\n{sum(map(len, groups))} files touched in {len(groups)} runs, {len(reached)} rules re-run directly"
    )
    assert reached == observable
    assert {j.rule for j in jobs if j.shell} == observable
