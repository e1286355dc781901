"""Write the L2-normalised video embeddings of a split list's videos, the input of the t-SNE figure.

A video goes through exactly what evaluation feeds the model (frame store, sampling, `eval_transform`,
normalisation), as one view: the centre clip and the centre crop. The embedding is the model's
`encode_video`, the vector it compares with the class prompts, normalised as in its logits, so the t-SNE
shows the space the classifier actually uses.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from vifi.catalog import methods as method_catalog
from vifi.data.frames.dataset import ClipDataset
from vifi.data.frames.store import FrameStore
from vifi.data.frames.transforms import NORMALIZATION, eval_transform
from vifi.data.lists.annotations import Item, read_labels, read_list
from vifi.embeddings import Embeddings, save_embeddings
from vifi.engine.devices import autocast, pick_device
from vifi.models.factory import ModelSpec, build_model
from vifi.progress import progress_bar

log = logging.getLogger(__name__)


def spread(items: Sequence[Item], max_videos: int | None) -> list[Item]:
    """At most `max_videos` items evenly spaced over the list, so a class-sorted list keeps every class."""
    if max_videos is None or max_videos >= len(items):
        return list(items)
    positions = np.linspace(0, len(items) - 1, max_videos).round().astype(int)
    return [items[i] for i in positions]


@torch.no_grad()
def embed(model: nn.Module, loader: DataLoader, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Unit-norm video embeddings `(N, D)` and labels `(N,)` of a loader of `(B, T, 3, H, W)` clips."""
    vectors, labels = [], []
    for clips, y in progress_bar(loader, desc="embed", leave=False):
        with autocast(device):
            video = model.encode_video(clips.to(device))
        vectors.append(F.normalize(video.float(), dim=-1).cpu())
        labels.append(y)
    return torch.cat(vectors).numpy(), torch.cat(labels).numpy()


@dataclass(frozen=True)
class EmbedConfig:
    """What `vifi embed` is given: the model, its weights, the frame store and list to embed, the pixel
    statistics and sampling that evaluation uses, at most how many videos, its speed, and the file to write."""

    model: ModelSpec
    frames: list[Path]
    weights: Path
    list: Path
    labels: Path
    normalize: str
    sampling: str
    stride: int
    max_videos: int | None
    batch_size: int
    workers: int
    threads: int
    out: Path


def run(args: EmbedConfig) -> Embeddings:
    """Embed the listed videos (or an even spread of `max_videos` of them) and write the file."""
    torch.set_num_threads(args.threads)
    device = pick_device()
    trained = method_catalog.method(
        args.model.method
    ).trained  # vanilla CLIP is embedded as loaded, as evaluated
    model = build_model(args.model, args.weights, trained=trained).to(device).eval()
    classnames = read_labels(args.labels)
    items = spread(read_list(args.list, len(classnames)), args.max_videos)
    mean, std = NORMALIZATION[args.normalize]
    dataset = ClipDataset(
        FrameStore(args.frames),
        items,
        args.model.num_frames,
        eval_transform(model.clip.visual.image_size[0], 1, mean=mean, std=std),
        train=False,
        source=str(args.list),
        sampling=args.sampling,
        stride=args.stride,
    )
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=False, num_workers=args.workers)
    vectors, labels = embed(model, loader, device)
    result = Embeddings(vectors, labels, tuple(classnames), tuple(item.path for item in items))
    save_embeddings(args.out, result)
    log.info("%s: %d videos x %d dims, %d classes", args.out, *vectors.shape, len(classnames))
    return result
