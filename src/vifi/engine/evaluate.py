"""Evaluate a CLIP video model on one or more labelled video lists and write `metrics.json`.

Each evaluation set has its own class list (base-to-novel scores base videos against base names only and
novel videos against novel names only, METHODS.md §5). Text features are encoded once per class list rather
than on every forward pass as in the papers' code; the numbers are the same. Every video is evaluated (no
silent drop), and the count is recorded.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from vifi import metrics, provenance
from vifi.data.annotations import read_labels, read_list
from vifi.data.dataset import ClipDataset
from vifi.data.framestore import FrameStore
from vifi.data.transforms import EvalTransform
from vifi.engine.devices import autocast, describe, pick_device
from vifi.io import write_json
from vifi.models.pretrained import build_clip, load_weights
from vifi.models.vificlip import METHODS, VideoCLIP

log = logging.getLogger(__name__)


@torch.no_grad()
def score(model: VideoCLIP, loader: DataLoader, text: torch.Tensor, device: torch.device, desc: str):
    """Softmax probabilities `(N, K)` and labels `(N,)` over the whole loader."""
    probs, labels = [], []
    for clips, y in tqdm(loader, desc=desc, leave=False):
        with autocast(device):
            logits = model(clips.to(device), text)
        probs.append(logits.float().softmax(dim=-1).cpu())
        labels.append(y)
    return torch.cat(probs), torch.cat(labels)


def evaluate_set(
    model: VideoCLIP,
    store: FrameStore,
    name: str,
    list_path: Path,
    labels_path: Path,
    args: argparse.Namespace,
    device: torch.device,
) -> dict:
    """Top-1/top-5 of one evaluation set against its own class names."""
    classnames = read_labels(labels_path)
    items = read_list(list_path, len(classnames))
    dataset = ClipDataset(
        store,
        items,
        args.num_frames,
        EvalTransform(model.clip.visual.image_size[0]),
        train=False,
        source=str(list_path),
    )
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=False, num_workers=args.workers)
    with torch.no_grad(), autocast(device):  # encoded once per class list, never trained here
        text = model.encode_text(model.tokenize(classnames).to(device))
    probs, labels = score(model, loader, text, device, desc=f"evaluate {name}")
    acc = metrics.topk_accuracy(probs, labels, ks=(1, 5))
    log.info(
        "%s: top1 %.2f top5 %.2f over %d videos, %d classes",
        name,
        acc[1],
        acc[5],
        len(items),
        len(classnames),
    )
    return {"top1": acc[1], "top5": acc[5], "videos": len(items), "classes": len(classnames)}


def run(args: argparse.Namespace) -> None:
    """Evaluate every requested set and write one metrics file with provenance."""
    torch.set_num_threads(args.threads)
    device = pick_device()
    clip, tokenizer = build_clip(args.arch)
    load_weights(clip, args.weights)
    model = VideoCLIP(clip, tokenizer, args.method).to(device).eval()
    store = FrameStore(args.frames)
    results = {
        name: evaluate_set(model, store, name, Path(lst), Path(lab), args, device)
        for name, lst, lab in args.eval
    }
    params = {k: [str(x) for x in v] if isinstance(v, list) else str(v) for k, v in vars(args).items()}
    write_json(
        args.out,
        {
            "protocol": args.protocol,
            "dataset": args.dataset,
            "method": args.method,
            "seed": args.seed,
            "metrics": results,
            "provenance": provenance.record(params, describe(device)),
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m vifi evaluate`."""
    p = argparse.ArgumentParser(prog="vifi evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=Path, nargs="+", required=True, help="frame-store shard files")
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--arch", required=True)
    p.add_argument("--method", choices=METHODS, required=True, help="selects the prompt template")
    p.add_argument(
        "--eval",
        nargs=3,
        action="append",
        required=True,
        metavar=("NAME", "LIST", "LABELS"),
        help="an evaluation set: its name, its split list and its label CSV (repeatable)",
    )
    p.add_argument("--num-frames", type=int, required=True)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--protocol", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--seed", type=int, required=True, help="the training subset / split this run belongs to")
    p.add_argument("--out", type=Path, required=True, help="metrics.json to write")
    run(p.parse_args(argv))
    return 0
