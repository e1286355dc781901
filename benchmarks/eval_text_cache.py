"""Evaluation videos/s with class-prompt features encoded once per class list, against once per forward pass.

Compared, side by side in one run, at 51, 101 and 400 classes (the class counts of HMDB-51, UCF-101 and
Kinetics-400):

- cached, what `vifi.engine.evaluate` does: a class list's text features are encoded once, before its videos,
  and each batch runs the video side only;
- per forward, the papers' code (METHODS §9, pitfall 8): every forward pass re-encodes all K class prompts.

Models: the demo's `vifi-tiny` (32 px) and ViT-B/16 (`ViT-B-16-quickgelu`, 224 px, the paper mode's
architecture), each as `build_clip` creates it with random weights (speed does not depend on the weights) and
wrapped in `VideoCLIP` as the factory wraps it, in eval mode under `no_grad`, fp32 on one CPU thread.

Assumptions: batches of 4 videos x 8 frames, one view each. The text cost per forward does not depend on the
batch, so the ratio grows as batches shrink (the paper's evaluation batch is 2 videos per GPU) and falls as
they grow; the papers' code re-encodes once per view, so views leave it as it is. The cached path's one-off
encoding is printed apart; spread over a list of thousands of videos it is negligible. Timings are medians
of calls made in turn (`harness.in_turn`).

    .venv/bin/python benchmarks/eval_text_cache.py [--quick] [--out DIR]
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch
from harness import interleaved, parse_args, per_core, write_results

from vifi.models.pretrained import build_clip
from vifi.models.vificlip import VideoCLIP

CLASSES = (51, 101, 400)
VIDEOS, FRAMES = 4, 8
# name: (open_clip architecture, timed calls per path and class count)
MODELS = {"vifi-tiny": ("vifi-tiny", 20), "vit-b-16": ("ViT-B-16-quickgelu", 2)}
QUICK_MODELS = {"vifi-tiny": ("vifi-tiny", 3)}


def build(arch: str) -> VideoCLIP:
    """The factory's model for the `vifi` method, with `build_clip`'s random weights instead of a checkpoint."""
    clip, tokenizer = build_clip(arch)
    return VideoCLIP(clip, tokenizer, "vifi").eval()


@torch.no_grad()
def measure(name: str, arch: str, repeats: int) -> dict[int, dict[str, float]]:
    """Per class count: videos/s of both paths and the seconds of the cached path's one-off encoding."""
    model = build(arch)
    size = model.clip.visual.image_size[0]
    video = torch.randn(VIDEOS, FRAMES, 3, size, size)
    model(video[:1, :1], model.encode_text(model.tokenize(["warm-up"])))  # one frame: kernel caches
    rows = {}
    for k in CLASSES:
        tokens = model.tokenize([f"action number {i}" for i in range(k)])
        start = time.perf_counter()
        text = model.encode_text(tokens)
        encode = time.perf_counter() - start
        seconds = interleaved(
            {
                "cached": lambda text=text: model(video, text),
                "per_forward": lambda tokens=tokens: model(video, model.encode_text(tokens)),
            },
            repeats,
        )
        row = {path: VIDEOS / s for path, s in seconds.items()}
        rows[k] = {"cached_videos_per_s": row["cached"], "per_forward_videos_per_s": row["per_forward"]}
        rows[k]["encode_once_s"] = encode
        ratio = row["cached"] / row["per_forward"]
        print(
            f"{name:>10} {k:>7} {row['per_forward']:>14.2f} {row['cached']:>10.2f} {ratio:>8.2f}x"
            f" {encode:>10.2f} s ({encode * row['cached'] / VIDEOS:.1f} batches)"
        )
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    per_core()
    print(f"videos/s per core, batches of {VIDEOS} videos x {FRAMES} frames, one view, median of calls in turn")
    print(f"{'model':>10} {'classes':>7} {'per forward':>14} {'cached':>10} {'ratio':>9} {'encode once':>12}")
    ratios: dict[str, float] = {}
    figures: dict[str, object] = {}
    for name, (arch, repeats) in (QUICK_MODELS if args.quick else MODELS).items():
        rows = measure(name, arch, repeats)
        figures[name] = {"arch": arch, "classes": {str(k): row for k, row in rows.items()}}
        for k, row in rows.items():
            ratios[f"cached_over_per_forward_{name}_{k}"] = (
                row["cached_videos_per_s"] / row["per_forward_videos_per_s"]
            )
    print("(target: cached >= 5x per forward at 400 classes)")
    write_results(args.out, "eval_text_cache", ratios, figures)


if __name__ == "__main__":
    main()
