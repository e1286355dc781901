"""params.yaml is validated before any job runs, and bad values are named by key."""

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run


@pytest.mark.parametrize(
    ("override", "message"),
    [
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
    ],
)
def test_bad_params_fail_before_any_job(tmp_path: Path, override: dict, message: str):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(override))
    proc = run(["snakemake", "-n", "--configfile", str(bad)], cwd=ROOT, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Error validating config file" in out
    assert "Building DAG of jobs" not in out
    assert re.search(message, out, re.S), out


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"base2novel": {"methods": ["vifii"]}}, r"params base2novel.methods: unknown method 'vifii'"),
        ({"zeroshot": {"methods": ["prompt"]}}, r"params zeroshot.methods: prompt starts from the bridge"),
        ({"fullsup": {"grid": {"k401": ["vifi"]}}}, r"params fullsup.grid: unknown dataset 'k401'"),
    ],
)
def test_names_the_catalog_lacks_fail_before_any_job(tmp_path: Path, override: dict, message: str):
    """Which methods and datasets exist is the catalog's to say, after the schema has checked the shapes."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(override))
    proc = run(["snakemake", "-n", "--configfile", str(bad)], cwd=ROOT, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "CatalogError" in out and "Building DAG of jobs" not in out
    assert re.search(message, out), out


def test_default_params_are_valid_and_block_style():
    proc = run(["snakemake", "-n", "--quiet", "rules"], cwd=ROOT, check=False)
    assert "Error validating" not in proc.stdout + proc.stderr
    text = (ROOT / "params.yaml").read_text()
    assert "[" not in text and "{" not in text, "params.yaml must stay in block style (dvc exp run rewrites it)"
    assert yaml.safe_load(text)["mode"] == "demo"
