"""The catalog is the one list of methods and datasets: what it says reaches every consumer, and a bad entry or
a config naming an unknown one fails with a message that names the file, entry or params key."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from vifi import names
from vifi.catalog import CatalogError
from vifi.catalog import datasets as dataset_catalog
from vifi.catalog import methods as method_catalog
from vifi.catalog.config import check_config
from vifi.models.factory import ModelSpec, unloaded_model
from vifi.models.pretrained import build_clip
from vifi.report.published import Published
from vifi.report.tables import table_methods, table_owners

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
OPTIONS = {
    "prompt": {"n_ctx_vision": 2, "n_ctx_text": 2, "depth_vision": 1, "depth_text": 1},
    "evl": {"evl_layers": 1},
}


@pytest.fixture
def catalog_files(tmp_path, monkeypatch) -> dict[str, Path]:
    """Private copies of both catalog files, read instead of the packaged ones (caches cleared around)."""
    files = {}
    for kind, module, attr in (
        ("methods", method_catalog, "METHODS_FILE"),
        ("datasets", dataset_catalog, "DATASETS_FILE"),
    ):
        files[kind] = tmp_path / f"{kind}.yaml"
        files[kind].write_text(getattr(module, attr).read_text(encoding="utf-8"), encoding="utf-8")
        monkeypatch.setattr(module, attr, files[kind])
    method_catalog.methods.cache_clear()
    dataset_catalog.datasets.cache_clear()
    yield files
    method_catalog.methods.cache_clear()
    dataset_catalog.datasets.cache_clear()


def edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_display_names_and_order_come_from_the_catalog() -> None:
    assert list(names.METHODS) == ["vanilla", "image", "text", "vifi", "prompt", "evl"]
    assert names.METHODS["prompt"] == "ViFi-CLIP + VL prompting"
    assert list(names.DATASETS) == ["k400", "k600", "hmdb51", "ucf101", "ssv2"]
    assert method_catalog.trained_methods() == ("image", "text", "vifi", "prompt", "evl")


def test_tables_and_published_keys_follow_the_entries() -> None:
    """VL prompting has a table of its own beside ViFi-CLIP, and its own published sections."""
    assert table_methods("base2novel", "base2novel") == ("vanilla", "image", "text", "vifi", "evl")
    assert table_methods("base2novel", "prompting") == ("vifi", "prompt")
    assert table_owners("base2novel", "prompting") == ("prompt",)  # made only where prompting runs
    assert "prompt" in table_methods("fewshot", "fewshot")
    published = Published.load()
    assert published.section("base2novel", "prompt") == "base_to_novel_vl_prompting"
    assert published.section("base2novel", "vifi") == "base_to_novel"
    assert published.value("base2novel", "k400", "vanilla", "hm") is None
    assert published.value("fullsup", "k400", "evl", "top1") is not None


@pytest.mark.parametrize("code", list(method_catalog.methods()))
def test_every_method_builds_with_what_its_entry_trains(code: str) -> None:
    """The model class honours `trains`: nothing for vanilla CLIP, the named groups otherwise."""
    clip, tokenizer = build_clip("vifi-tiny")
    model = unloaded_model(ModelSpec(code, "vifi-tiny", 2, OPTIONS.get(code, {})), clip, tokenizer)
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    expected = {
        "vanilla": set(),
        "image": {"clip"},
        "text": {"clip"},
        "vifi": {"clip"},
        "prompt": {"clip"},  # the prompts live on the CLIP
        "evl": {"decoder"},
    }[code]
    assert trainable == expected
    assert model.tokenize(["x"]).shape[0] == 1
    assert model.checkpoint_module() is (model if code == "evl" else model.clip)


def test_the_groups_a_clip_method_trains() -> None:
    clip, tokenizer = build_clip("vifi-tiny")
    groups = {}
    for code in ("image", "text", "vifi"):
        model = unloaded_model(ModelSpec(code, "vifi-tiny", 2), copy.deepcopy(clip), tokenizer)
        groups[code] = {n.split(".")[0] for n, p in model.clip.named_parameters() if p.requires_grad}
    assert groups["image"] == {"visual"}
    assert groups["text"] == {"transformer", "positional_embedding", "ln_final", "text_projection"}
    assert groups["vifi"] == groups["image"] | groups["text"] | {"logit_scale"}  # never the token table


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["vifi"].update(colour="red"), r"entry 'vifi': unknown field\(s\) \['colour'\]"),
        (lambda d: d["vifi"].pop("template"), r"entry 'vifi': missing field\(s\) \['template'\]"),
        (lambda d: d["prompt"].update(starts_from="scratch"), r"entry 'prompt': starts_from 'scratch'"),
        (lambda d: d["vifi"].update(template="a photo"), r"entry 'vifi': template 'a photo' has no \{\}"),
        (
            lambda d: d["prompt"].update(versus="clip4clip"),
            r"entry 'prompt': versus 'clip4clip' is not a method",
        ),
    ],
)
def test_a_bad_method_entry_names_file_entry_and_field(catalog_files, change, message) -> None:
    edit(catalog_files["methods"], change)
    with pytest.raises(CatalogError, match=message) as err:
        method_catalog.methods()
    assert str(catalog_files["methods"]) in str(err.value)


def test_a_bad_dataset_entry_names_its_protocol(catalog_files) -> None:
    edit(catalog_files["datasets"], lambda d: d["ssv2"].update(protocols=["fewshot", "linear-probe"]))
    with pytest.raises(CatalogError, match=r"entry 'ssv2': unknown protocol\(s\) \['linear-probe'\]"):
        dataset_catalog.datasets()


def test_a_new_entry_is_a_method_everywhere(catalog_files) -> None:
    """One entry, and the method has a display name, a table row and training flags."""
    entry = {
        "name": "Toy CLIP",
        "model": "vifi.models.vificlip:VideoCLIP",
        "trains": ["image"],
        "template": "{}",
    }
    edit(catalog_files["methods"], lambda d: d.update(toy=entry))
    assert method_catalog.method("toy").trained and "toy" in method_catalog.trained_methods()
    assert "toy" in table_methods("base2novel", "base2novel")
    ModelSpec("toy", "vifi-tiny", 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c["base2novel"]["methods"].append("xclip"),
            r"params base2novel.methods: unknown method 'xclip'",
        ),
        (
            lambda c: c["fullsup"]["grid"].update(kinetics=["vifi"]),
            r"params fullsup.grid: unknown dataset 'kinetics'",
        ),
        (
            lambda c: c["fewshot"]["datasets"].append("k600"),
            r"params fewshot.datasets: k600 does not take part in fewshot",
        ),
        (lambda c: c["recipes"].update(xclip={"lr": 1}), r"params recipes.xclip: unknown method 'xclip'"),
        (lambda c: c["data"]["source"].update(ucf102="real"), r"unknown dataset 'ucf102'"),
    ],
)
def test_a_config_naming_what_the_catalog_lacks_fails_on_its_key(change, message) -> None:
    config = copy.deepcopy(PARAMS)
    check_config(config)  # the default is consistent
    change(config)
    with pytest.raises(CatalogError, match=message):
        check_config(config)


def test_method_codes_are_listed_in_the_catalog_only() -> None:
    """No module or rule file spells out a list of method codes again (the lists that drifted)."""
    codes = list(method_catalog.methods())
    listed = []
    for path in [*(ROOT / "src/vifi").rglob("*.py"), *(ROOT / "workflow").rglob("*.smk")]:
        text = path.read_text(encoding="utf-8")
        for a, b in itertools.pairwise(codes):
            if f'"{a}", "{b}"' in text or f"{a}|{b}" in text:
                listed.append(f"{path.relative_to(ROOT)}: {a}, {b}")
    assert listed == []
