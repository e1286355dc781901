"""Classify video files with a CLIP video model: `vifi predict VIDEO... --labels "a,b,c"`.

A video is read the way the pipeline reads it for evaluation, so a prediction is the score `vifi evaluate`
gives the same file in one view (1 clip x 1 centre crop): PyAV decoding in display order, resized to the short
side the frame store uses (`scale_size` of the model's input size, `extract.short_side`), the centre frame of
each of T segments (`test_indices`) and the evaluation transform. Frames are not JPEG-encoded here, so against
a JPEG frame store the probabilities differ by the codec's error; against a raw one they agree.

Only the ViFi-CLIP family (`vanilla`, `image`, `text`, `vifi`) is served: they share one architecture and
segment sampling, while prompt and EVL models need architecture flags and sampling that `vifi evaluate`
takes from the workflow's parameters.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vifi.catalog import methods as method_catalog
from vifi.data.frames.decode import VideoDecodeError, decode_video
from vifi.data.frames.sampling import test_indices
from vifi.data.frames.transforms import NORMALIZATION, EvalTransform, eval_transform, scale_size
from vifi.data.lists.annotations import AnnotationError, read_labels
from vifi.engine.devices import autocast
from vifi.models.factory import ModelSpec, build_model

# The demo's ViFi-CLIP, trained on every class of the Kinetics-400 role: the zero-shot source model, which the
# demo's fully supervised table reuses rather than training again. Else the image-pretrained demo CLIP.
DEMO_CHECKPOINT = Path("results/runs/zeroshot/k400/vifi/main/model.pt")
PRETRAINED_CHECKPOINT = Path("checkpoints/pretrained/vifi-tiny.pt")


class LabelError(ValueError):
    """The class names cannot be scored: one is empty or repeated; the message says which and where from."""


def check_labels(names: Sequence[str], source: str) -> list[str]:
    """Names with surrounding whitespace stripped; empty or repeated names are refused.

    Softmax over a repeated name splits its probability between the copies, and an empty name scores the bare
    prompt template, so either would print misleading numbers rather than fail.
    """
    names = [name.strip() for name in names]
    empty = [i + 1 for i, name in enumerate(names) if not name]
    if empty:
        raise LabelError(f"{source}: class name {empty[0]} of {len(names)} is empty")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise LabelError(f"{source}: class names must be distinct; repeated: {', '.join(repeated)}")
    return names


def labels_from_file(path: Path) -> list[str]:
    """Class names from an `id,name` label CSV (`.csv`, the datasets' format) or a file with one per line."""
    try:
        names = read_labels(path) if path.suffix.lower() == ".csv" else path.read_text("utf-8").splitlines()
    except (OSError, AnnotationError) as err:
        raise LabelError(f"cannot read class names from {path}: {err}") from err
    return check_labels(names, str(path))


def resolve_checkpoint(checkpoint: Path | None, method: str) -> tuple[Path, str]:
    """The weights and method to use: the given checkpoint, else the demo's ViFi-CLIP, else vanilla CLIP.

    Falling back says so on stderr, because the pretrained CLIP's zero-shot scores are much weaker than the
    fine-tuned model's and should not be mistaken for them.
    """
    if checkpoint is not None:
        return checkpoint, method
    if DEMO_CHECKPOINT.is_file():
        return DEMO_CHECKPOINT, method
    print(
        f"vifi predict: no fine-tuned ViFi-CLIP at {DEMO_CHECKPOINT} (relative to {Path.cwd()}); using the "
        f"pretrained CLIP {PRETRAINED_CHECKPOINT} as vanilla CLIP. Give --checkpoint to choose a model.",
        file=sys.stderr,
    )
    return PRETRAINED_CHECKPOINT, "vanilla"


@dataclass
class Predictor:
    """A model with its class names' text features encoded once, and the evaluation view of a video."""

    model: nn.Module
    classnames: list[str]
    text: torch.Tensor
    transform: EvalTransform
    num_frames: int
    device: torch.device

    @torch.no_grad()
    def probabilities(self, video: Path) -> torch.Tensor:
        """Softmax over the class names `(K,)` for one video; `VideoDecodeError` if it cannot be decoded."""
        frames = decode_video(video, scale_size(self.transform.input_size))
        clip = self.transform(frames[test_indices(len(frames), self.num_frames)])
        with autocast(self.device):
            logits = self.model(clip[None].to(self.device), self.text)
        return logits.float().softmax(dim=-1)[0].cpu()

    def top(self, video: Path, k: int) -> list[tuple[str, float]]:
        """The `k` most probable class names with their probabilities, most probable first."""
        probs, ids = self.probabilities(video).topk(min(k, len(self.classnames)))
        return [(self.classnames[i], p) for i, p in zip(ids.tolist(), probs.tolist(), strict=True)]


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Hold back INFO records (open_clip logs each step of building a model) that would bury the results."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


@torch.no_grad()
def load_predictor(
    spec: ModelSpec, weights: Path, classnames: list[str], normalize: str, device: torch.device
) -> Predictor:
    """Build the model as `vifi evaluate` does and encode the class names' prompts once."""
    model = build_model(spec, weights, trained=method_catalog.method(spec.method).trained).to(device).eval()
    with autocast(device):
        text = model.encode_text(model.tokenize(classnames).to(device))
    mean, std = NORMALIZATION[normalize]
    transform = eval_transform(model.clip.visual.image_size[0], 1, mean=mean, std=std)
    return Predictor(model, classnames, text, transform, spec.num_frames, device)


def predict_all(predictor: Predictor, videos: Sequence[Path], k: int) -> Iterator[dict]:
    """One record per video, in order: `{"video", "top": [{"label", "probability"}]}` or `{"video", "error"}`.

    A video that cannot be decoded gets an error record and the others are still scored.
    """
    for video in videos:
        try:
            top = predictor.top(video, k)
        except VideoDecodeError as err:
            yield {"video": str(video), "error": str(err)}
            continue
        yield {"video": str(video), "top": [{"label": name, "probability": p} for name, p in top]}


def format_record(record: dict) -> str:
    """A readable block: the video, then one `rank probability class` row per prediction."""
    rows = [f"{record['video']}", f"  {'rank':>4}  {'prob':>6}  class"]
    rows += [
        f"  {rank:>4}  {entry['probability']:>6.4f}  {entry['label']}"
        for rank, entry in enumerate(record["top"], start=1)
    ]
    return "\n".join(rows)
