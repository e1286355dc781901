"""`vifi embed`: unit-norm embeddings of the listed videos, as evaluation would see them, in list order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import TINY, tiny_world, with_released_flags
from vifi.data.frames.dataset import ClipDataset
from vifi.data.frames.store import FrameStore
from vifi.data.frames.transforms import EvalTransform
from vifi.data.lists.annotations import Item, read_labels, read_list
from vifi.embeddings import load_embeddings
from vifi.engine import embed
from vifi.models.factory import ModelSpec, build_model
from vifi.stages import embed as embed_stage


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    """8 synthetic videos of 4 classes (36x48, 8 frames) in a frame store, and a random tiny CLIP."""
    world = tiny_world(tmp_path_factory.mktemp("embed"), classes=4, val_per_class=2)
    return {
        "shard": world["shard"],
        "list": world["val"],
        "labels": world["labels"],
        "weights": world["weights"],
    }


def run_embed(data: dict, out: Path, *extra: str) -> None:
    threads = torch.get_num_threads()
    try:
        embed_stage.main(
            with_released_flags(
                "embed",
                [
                    *("--frames", str(data["shard"]), "--weights", str(data["weights"])),
                    *("--arch", "vifi-tiny", "--method", "vifi", "--num-frames", "4"),
                    *("--list", str(data["list"]), "--labels", str(data["labels"]), "--batch-size", "3"),
                    *("--out", str(out), *extra),
                ],
            )
        )
    finally:
        torch.set_num_threads(threads)


def test_embeddings_are_unit_rows_of_each_listed_video_in_order(store: dict, tmp_path: Path) -> None:
    out = tmp_path / "emb.npz"
    run_embed(store, out)
    emb = load_embeddings(out)
    items = read_list(store["list"])
    assert len(items) == 8
    assert emb.vectors.shape == (8, TINY.joint) and emb.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, rtol=1e-5)
    assert emb.labels.tolist() == [item.label for item in items]
    assert emb.keys == tuple(item.path for item in items)
    assert emb.classnames == tuple(read_labels(store["labels"]))
    assert len(set(emb.labels.tolist())) == 4
    assert not np.allclose(emb.vectors[0], emb.vectors[-1]), "different videos, different embeddings"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb.npz"], "written atomically, no temp left"

    model = build_model(ModelSpec("vifi", "vifi-tiny", 4), store["weights"], trained=True).eval()
    clips = ClipDataset(FrameStore([store["shard"]]), items[-1:], 4, EvalTransform(32), train=False)
    with torch.no_grad():
        reference = torch.nn.functional.normalize(model.encode_video(clips[0][0][None]), dim=-1)
    np.testing.assert_allclose(emb.vectors[-1], reference[0].numpy(), atol=1e-5)


def test_max_videos_keeps_an_even_spread_over_the_list(store: dict, tmp_path: Path) -> None:
    out = tmp_path / "emb.npz"
    run_embed(store, out, "--max-videos", "4")
    emb = load_embeddings(out)
    items = read_list(store["list"])
    picked = [items[i] for i in (0, 2, 5, 7)]  # linspace(0, 7, 4) rounded
    assert emb.keys == tuple(item.path for item in picked)
    assert emb.labels.tolist() == [item.label for item in picked] and emb.vectors.shape == (4, TINY.joint)


def test_spread_takes_every_class_of_a_sorted_list() -> None:
    items = [Item(f"v{i}", i // 10) for i in range(100)]
    chosen = embed.spread(items, 10)  # a class-sorted list of 10 classes x 10 videos
    assert [item.path for item in chosen] == [f"v{i}" for i in range(0, 100, 11)]
    assert [item.label for item in chosen] == list(range(10)), "one video of every class"
    assert embed.spread(items, 200) == items and embed.spread(items, None) == items
