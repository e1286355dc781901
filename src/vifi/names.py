"""Display names of methods and datasets, shared by every report, as the catalog (`vifi.catalog`) gives them.

Run directories use short codes (`results/runs/<protocol>/<dataset>/<method>/...`); tables print the names the
paper prints. The order of each mapping is the catalog's, the row order of every table, so that all reports
list methods and datasets the same way. The mappings are read-only because several modules import them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from vifi.catalog import datasets as dataset_catalog
from vifi.catalog import methods as method_catalog

METHODS: Mapping[str, str] = MappingProxyType({code: m.name for code, m in method_catalog.methods().items()})
DATASETS: Mapping[str, str] = MappingProxyType({code: d.name for code, d in dataset_catalog.datasets().items()})
