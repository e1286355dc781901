"""params.yaml is validated before any job runs, and bad values are named by key.

One bad value goes through the CLI, which shows that the Snakefile's check runs before the DAG is built; the
others are checked in-process with the same function and schema file, as `--configfile` would merge them,
instead of starting Snakemake once per value.
"""

import copy
import re
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from tests.conftest import ROOT, run
from vifi.catalog import CatalogError
from vifi.catalog.config import check_config

SCHEMA = "schemas/params.schema.yaml"  # relative to workflow/, as the Snakefile names it
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
BAD = [
    (
        {"train": {"lr": -0.1}},
        r"-0.1 is less than or equal to the minimum of 0.*instance\['train'\]\['lr'\]",
    ),
    ({"train": {"epochs": "ten"}}, r"'ten' is not of type 'integer'.*instance\['train'\]\['epochs'\]"),
    ({"trian": {"lr": 0.1}}, r"Additional properties are not allowed \('trian' was unexpected\)"),
    ({"extract": {"shard": 2}}, r"\('shard' was unexpected\)"),
    ({"base2novel": {"seeds": []}}, r"\[\] should be non-empty.*\['base2novel'\]\['seeds'\]"),
    ({"protocols": ["fewshots"]}, r"'fewshots' is not one of.*\['protocols'\]\[0\]"),
    ({"recipes": {"evl": {"lrr": 0.1}}}, r"'lrr' is not one of.*\['recipes'\]\['evl'\]"),
    ({"recipes": {"evll": {"lr": 0.1}}}, r"\('evll' was unexpected\)"),
    ({"train": {"normalize": "clipp"}}, r"'clipp' is not one of.*\['train'\]\['normalize'\]"),
    ({"prompt": {"n_ctx_text": 0}}, r"0 is less than or equal to the minimum of 0.*\['prompt'\]"),
    (
        {"base2novel": {"shots": 0}},
        r"0 is less than or equal to the minimum of 0.*\['base2novel'\]\['shots'\]",
    ),
]


def validation_error(override: dict) -> str:
    """The Snakefile's check of params.yaml with `override` merged in as `--configfile` merges it: the error
    message, or '' when the config passes."""
    config = copy.deepcopy(PARAMS)
    update_config(config, override)
    try:
        validate(config, str(ROOT / "workflow" / SCHEMA))
    except WorkflowError as error:
        return str(error)
    return ""


@pytest.mark.parametrize(("override", "message"), BAD)
def test_bad_params_are_named_by_key(override: dict, message: str):
    error = validation_error(override)
    assert error.startswith("Error validating config file"), error
    assert re.search(message, error, re.S), error


# Names the catalog lacks: the schema checks shapes, the catalog which methods and datasets exist.
UNKNOWN = [
    ({"base2novel": {"methods": ["vifii"]}}, r"params base2novel.methods: unknown method 'vifii'"),
    ({"zeroshot": {"methods": ["prompt"]}}, r"params zeroshot.methods: prompt starts from the bridge"),
    ({"fullsup": {"grid": {"k401": ["vifi"]}}}, r"params fullsup.grid: unknown dataset 'k401'"),
]


@pytest.mark.parametrize(
    ("override", "message", "checker"),
    [(*BAD[0], "Error validating config file"), (*UNKNOWN[0], "CatalogError")],
    ids=["schema", "catalog"],
)
def test_bad_params_fail_before_any_job(tmp_path: Path, override: dict, message: str, checker: str):
    """Through Snakemake's CLI, once per check: both run before the DAG is built."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(override))
    proc = run(["snakemake", "-n", "--configfile", str(bad)], cwd=ROOT, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and checker in out and "Building DAG of jobs" not in out
    assert re.search(message, out, re.S), out
    # The in-process checks stand for the Snakefile's own: the same functions on the same schema file.
    assert f'validate(config, "{SCHEMA}")' in (ROOT / "workflow/Snakefile").read_text()


@pytest.mark.parametrize(("override", "message"), UNKNOWN)
def test_names_the_catalog_lacks_are_named_by_key(override: dict, message: str):
    config = copy.deepcopy(PARAMS)
    update_config(config, override)
    assert validation_error(override) == ""  # the shapes are fine
    with pytest.raises(CatalogError, match=message):
        check_config(config)


def test_default_params_are_valid_and_block_style():
    assert validation_error({}) == ""
    proc = run(["snakemake", "-n", "--quiet", "rules"], cwd=ROOT, check=False)
    assert "Error validating" not in proc.stdout + proc.stderr
    text = (ROOT / "params.yaml").read_text()
    assert "[" not in text and "{" not in text, "params.yaml must stay in block style (dvc exp run rewrites it)"
    assert yaml.safe_load(text)["mode"] == "demo"
