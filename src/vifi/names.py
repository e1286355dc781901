"""Display names of methods and datasets, shared by every report.

Run directories use short codes (`results/runs/<protocol>/<dataset>/<method>/...`); tables print the names the
paper prints. The order of each mapping is the row order of every table, so that all reports list methods and
datasets the same way. The mappings are read-only because several modules import them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

METHODS: Mapping[str, str] = MappingProxyType(
    {
        "vanilla": "Vanilla CLIP",
        "image": "CLIP image-FT",
        "text": "CLIP text-FT",
        "vifi": "ViFi-CLIP",
        "prompt": "ViFi-CLIP + VL prompting",
        "evl": "EVL (open-vocab head)",
    }
)

DATASETS: Mapping[str, str] = MappingProxyType(
    {
        "k400": "Kinetics-400",
        "k600": "Kinetics-600",
        "hmdb51": "HMDB-51",
        "ucf101": "UCF-101",
        "ssv2": "SSv2",
    }
)
