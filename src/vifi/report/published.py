"""The published numbers a paper-mode table compares against, looked up by our own dataset and method codes.

`published.yaml` is keyed as the papers print their tables (section -> dataset -> method -> metrics); the
catalog (`vifi.catalog`) gives each dataset's and method's name there. Each protocol has one section; VL
prompting has sections of its own (its catalog entry's `sections`) because the ViFi-CLIP README prints it as a
separate table. Our EVL runs the released 8-frame B/16
recipe (METHODS §7), so it compares with that configuration of the EVL README. A combination with no published
number (vanilla CLIP, EVL outside fully supervised K400) yields None, which the tables print as "—".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vifi.catalog import datasets as dataset_catalog
from vifi.catalog import methods as method_catalog

DEFAULT = Path(__file__).with_name("published.yaml")

SECTIONS: Mapping[str, str] = {
    "zeroshot": "zero_shot",
    "base2novel": "base_to_novel",
    "fewshot": "few_shot",
    "fullsup": "fully_supervised",
}


class PublishedError(ValueError):
    """The published-numbers file is unreadable or not shaped as expected; the message names file and key."""


@dataclass(frozen=True)
class Published:
    """The parsed published-numbers file and where it came from (for error messages)."""

    data: Mapping[str, Any]
    source: Path

    @classmethod
    def load(cls, path: str | Path = DEFAULT) -> Published:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise PublishedError(f"{path}: cannot read published numbers: {err}") from err
        if not isinstance(data, dict):
            raise PublishedError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
        return cls(data, path)

    def section(self, protocol: str, method: str) -> str:
        """The section holding `method`'s numbers under `protocol`."""
        return method_catalog.method(method).sections.get(protocol, SECTIONS[protocol])

    def value(self, protocol: str, dataset: str, method: str, *metric: str) -> float | None:
        """The published percentage at `metric` (e.g. "top1", "k16"), or None where the papers give none.

        A missing section means the wrong file was given, so it is an error; a missing dataset, method or
        metric, or a null, is simply an entry the papers do not have.
        """
        section = self.section(protocol, method)
        if section not in self.data:
            raise PublishedError(f"{self.source}: no section '{section}'")
        keys = (
            section,
            dataset_catalog.dataset(dataset).published,
            method_catalog.method(method).published,
            *metric,
        )
        node: Any = self.data
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        if node is None:
            return None
        if isinstance(node, bool) or not isinstance(node, int | float):
            raise PublishedError(f"{self.source}: '{'.'.join(map(str, keys))}' must be a number, got {node!r}")
        return float(node)
