"""A params config checked against the catalog: every method and dataset it names exists, and takes part in
the protocol it is named for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vifi.catalog import CatalogError
from vifi.catalog.datasets import datasets
from vifi.catalog.methods import methods


def _config_uses(config: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(where, kind, code, protocol) for every method and dataset a params config names."""
    zs, b2n, fs, full = (config.get(p, {}) for p in ("zeroshot", "base2novel", "fewshot", "fullsup"))
    uses = [("zeroshot.source", "dataset", zs.get("source"), "zeroshot-source")]
    uses += [("zeroshot.targets", "dataset", d, "zeroshot") for d in zs.get("targets", [])]
    for key, section in (("base2novel", b2n), ("fewshot", fs)):
        uses += [(f"{key}.datasets", "dataset", d, key) for d in section.get("datasets", [])]
    for key, section in (("zeroshot", zs), ("base2novel", b2n), ("fewshot", fs)):
        uses += [(f"{key}.methods", "method", m, key) for m in section.get("methods", [])]
    for d, grid_methods in full.get("grid", {}).items():
        uses += [("fullsup.grid", "dataset", d, "fullsup")]
        uses += [(f"fullsup.grid.{d}", "method", m, "fullsup") for m in grid_methods]
    uses += [(f"recipes.{m}", "method", m, "") for m in config.get("recipes", {})]
    for key in ("zeroshot", "base2novel", "fewshot", "fullsup"):
        uses += [(f"{key}.recipes.{m}", "method", m, "") for m in config.get(key, {}).get("recipes", {})]
    data, synthetic = config.get("data", {}), config.get("synthetic", {}).get("datasets", {})
    named = [*data.get("source", {}), *data.get("registry_key", {}), *synthetic, *full.get("lists", {})]
    uses += [("data, synthetic or fullsup.lists", "dataset", d, "") for d in named]
    uses += [
        (f"synthetic.datasets.{d}.exclude_from", "dataset", s.get("exclude_from"), "")
        for d, s in synthetic.items()
    ]
    return [u for u in uses if u[2] is not None]


def check_config(config: Mapping[str, Any]) -> None:
    """Every method and dataset a params config names is in the catalog, each dataset in a protocol it has.

    The schema checks shapes; names live here, so the schema never lists them and cannot drift from the
    catalog. A `CatalogError` names the params key.
    """
    for where, kind, code, protocol in _config_uses(config):
        known = methods() if kind == "method" else datasets()
        if code not in known:
            raise CatalogError(f"params {where}: unknown {kind} {code!r}; the catalog has {', '.join(known)}")
        if kind == "dataset" and protocol and protocol not in datasets()[code].protocols:
            takes = ", ".join(datasets()[code].protocols)
            raise CatalogError(f"params {where}: {code} does not take part in {protocol} (catalog: {takes})")
    for code in config.get("zeroshot", {}).get("methods", []):
        if methods()[code].starts_from != "pretrained":
            raise CatalogError(
                f"params zeroshot.methods: {code} starts from the bridge, a model this protocol trains itself"
            )
    for code, source in config.get("data", {}).get("source", {}).items():
        if source == "real" and datasets()[code].labels is None:
            raise CatalogError(f"params data.source.{code}: real, but its catalog entry names no label file")
