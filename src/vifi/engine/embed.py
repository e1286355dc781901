"""Write the L2-normalised video embeddings of a split list's videos, the input of the t-SNE figure.

A video goes through exactly what evaluation feeds the model (frame store, sampling, `eval_transform`,
normalisation), as one view: the centre clip and the centre crop. The embedding is the model's
`encode_video`, the vector it compares with the class prompts, normalised as in its logits, so the t-SNE
shows the space the classifier actually uses.

Usage: python -m vifi embed --frames data/frames/ucf101/*.bin --weights W --arch ViT-B-16 --method vifi \\
           --num-frames 8 --list val1.txt --labels labels.csv --max-videos 500 --out embeddings.npz
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from vifi.argtypes import int_at_least
from vifi.catalog import methods as method_catalog
from vifi.data.frames.dataset import SAMPLING, ClipDataset
from vifi.data.frames.store import FrameStore
from vifi.data.frames.transforms import NORMALIZATION, eval_transform
from vifi.data.lists.annotations import Item, read_labels, read_list
from vifi.embeddings import Embeddings, save_embeddings
from vifi.engine.devices import autocast, pick_device
from vifi.models.factory import ModelArgsError, add_model_args, build_model, spec_from_args
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


def run(args: argparse.Namespace) -> Embeddings:
    """Embed the listed videos (or an even spread of `--max-videos` of them) and write the file."""
    torch.set_num_threads(args.threads)
    device = pick_device()
    trained = method_catalog.method(
        args.method
    ).trained  # vanilla CLIP is embedded as loaded, as it is evaluated
    model = build_model(spec_from_args(args), args.weights, trained=trained).to(device).eval()
    classnames = read_labels(args.labels)
    items = spread(read_list(args.list, len(classnames)), args.max_videos)
    mean, std = NORMALIZATION[args.normalize]
    dataset = ClipDataset(
        FrameStore(args.frames),
        items,
        args.num_frames,
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


def build_parser() -> argparse.ArgumentParser:
    """The `vifi embed` flags: the model and data flags of `vifi evaluate`, one list, one view."""
    p = argparse.ArgumentParser(prog="vifi embed", description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=Path, nargs="+", required=True, help="frame-store manifest or shard files")
    p.add_argument("--weights", type=Path, required=True)
    add_model_args(p)
    p.add_argument("--list", type=Path, required=True, help="split list of the videos to embed")
    p.add_argument("--labels", type=Path, required=True, help="label CSV of the list's class ids")
    p.add_argument("--normalize", choices=sorted(NORMALIZATION), required=True, help="pixel statistics")
    p.add_argument("--sampling", choices=SAMPLING, required=True, help="ViFi-CLIP segments or EVL dense")
    p.add_argument("--stride", type=int_at_least(1), required=True, help="frame stride of dense sampling")
    p.add_argument("--max-videos", type=int_at_least(1), help="embed an even spread of at most N videos")
    p.add_argument("--batch-size", type=int_at_least(1), default=16)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, required=True, help=".npz file to write")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m vifi embed`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        spec_from_args(args)
    except ModelArgsError as err:
        parser.error(str(err))
    run(args)
    return 0
