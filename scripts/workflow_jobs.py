"""The jobs of a forced dry run of the workflow, in this process, for scripts that derive files from the DAG.

Why in-process: `scripts/dvc_yaml.py` needs dozens of dry runs (one per perturbed params.yaml key, see
`dvc_params.py`); started as `snakemake -n` each would import Snakemake and the package again (about 3 s of a
5 s run here). Snakemake's API has no public accessor for a dry run's jobs, so `jobs` reads the workflow's DAG
after the dry run (`WorkflowApi._workflow`, Snakemake 9.27.1 as pinned).
"""

from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path
from typing import Any, NamedTuple

from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, Quietness, ResourceSettings

ROOT = Path(__file__).resolve().parents[1]


class Job(NamedTuple):
    """What makes Snakemake run a job again, beyond mtimes: its inputs, and the command its params render."""

    inputs: tuple[str, ...]
    command: str
    params: str


def jobs(targets: tuple[str, ...], config: dict[str, Any] | None = None, root: Path = ROOT) -> dict:
    """{(rule, outputs): Job} of every job with outputs that `snakemake -n -F *targets` would run, with
    `config` merged over params.yaml as `--config` would."""
    with contextlib.redirect_stdout(io.StringIO()), SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(config=config or {}),
            snakefile=root / "workflow" / "Snakefile",
            workdir=root,
        )
        dag = workflow.dag(DAGSettings(targets=set(targets), forceall=True))
        dag.execute_workflow(executor="dryrun")
        found = {}
        for job in workflow._workflow.dag.jobs:
            if job.output:
                params = repr(sorted(job.params.items()))
                found[job.rule.name, tuple(map(str, job.output))] = Job(
                    tuple(map(str, job.input)), job.shellcmd or "", params
                )
        return found


@functools.cache
def baseline(targets: tuple[str, ...], root: Path = ROOT) -> dict:
    """`jobs(targets)` with params.yaml as it is. Cached: the code, the params and the plots of dvc.yaml all
    start from the stages' jobs."""
    return jobs(targets, root=root)
