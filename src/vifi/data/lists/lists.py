"""`vifi lists`: a dataset's official annotation files, as published, become the pipeline's split lists.

Every protocol's lists (`vifi splits`, `vifi protocols`) are cut from one folder per dataset,
`data/lists/<ds>/`: `labels.csv` (id,name), `train{s}.txt` and `val{s}.txt` per official split (`<video> <label
id>`, videos named as the paper's released lists name them), and `videos.csv` (`path,name`: the class each
video's own annotation gives, which the release audit compares with the lists' ids). Real and synthetic
datasets take the same path: the synthetic generator writes the official formats too.

Label ids come from a label file, never from the order the annotations happen to list classes in: for the real
datasets the paper's own label CSVs (shipped in `vifi/data/lists/labels/`), which fix the ids of every released
list and the names the prompts use; for synthetic ones the generator's `labels.csv`. Each video's class is
matched to that file by name (`vifi.data.lists.official.match_key`), so `ApplyEyeMakeup`, `kick_ball` and
`Putting [something] on a surface` meet the paper's `ApplyEyeMakeup`, `kick ball` and `Putting something on a
surface`.

The Kinetics-600 zero-shot protocol (METHODS.md §5.2) tests on classes Kinetics-400 lacks, with videos from the
train, val and test annotations alike: `--exclude-labels` drops the classes of another label file and `--pool`
writes every labelled video as the one list `val1.txt`.
"""

from __future__ import annotations

import csv
import io
import logging
from importlib import resources
from pathlib import Path

from vifi.catalog import CatalogError
from vifi.catalog import datasets as dataset_catalog
from vifi.data.acquire.archives import staging_dir
from vifi.data.lists.annotations import (
    AnnotationError,
    check_paper_order,
    read_labels,
    write_labels,
    write_list,
)
from vifi.data.lists.official import (
    Annotations,
    all_videos,
    exclude_classes,
    match_key,
    read_annotations,
    to_items,
)
from vifi.io import write_text

log = logging.getLogger(__name__)


def dataset_format(dataset: str) -> str:
    """The official annotation format of a dataset of the catalog (`CatalogError` names the known ones)."""
    return dataset_catalog.dataset(dataset).format


def paper_label_file(dataset: str) -> Path:
    """The paper's label CSV of a dataset, as shipped in the package (its ids are the released lists')."""
    entry = dataset_catalog.dataset(dataset)
    if entry.labels is None:
        raise CatalogError(f"dataset {dataset}: its catalog entry names no label file (`labels`)")
    return Path(str(resources.files("vifi.data.lists") / "labels" / entry.labels))


def videos_csv(ann: Annotations) -> str:
    """`path,name` for every annotated video: the class its own annotation names, for the release audit."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "name"])
    seen: set[str] = set()
    for videos in ann.splits.values():
        for video in videos:
            if video.path not in seen:
                seen.add(video.path)
                writer.writerow([video.path, video.name])
    return buffer.getvalue()


def build_lists(
    fmt: str,
    root: Path,
    labels: Path,
    out_dir: Path,
    exclude_labels: Path | None = None,
    pool: bool = False,
) -> dict[str, int]:
    """Write `labels.csv`, one list per official split and `videos.csv` into `out_dir`; return line counts."""
    ann = read_annotations(fmt, root)
    names = read_labels(labels)
    check_paper_order(names, labels)
    if exclude_labels is not None:
        excluded = read_labels(exclude_labels)
        ann = exclude_classes(ann, excluded)
        dropped = {match_key(name) for name in excluded}
        names = [name for name in names if match_key(name) not in dropped]
        if not names:
            raise AnnotationError(f"{labels}: every class is also in {exclude_labels}; nothing is left")
    splits = {"val1": all_videos(ann)} if pool else ann.splits
    lists = {
        f"{split}.txt": to_items(videos, names, f"{root} ({fmt} annotations, split {split})")
        for split, videos in splits.items()
    }
    with staging_dir(out_dir) as tmp:  # the folder appears only once every list is written
        for name, items in lists.items():
            write_list(tmp / name, items)
            log.info("%s: %d videos of %d classes", name, len(items), len({it.label for it in items}))
        write_labels(tmp / "labels.csv", names)
        write_text(tmp / "videos.csv", videos_csv(ann))
    return {name: len(items) for name, items in lists.items()}
