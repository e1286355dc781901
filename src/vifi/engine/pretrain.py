"""Image-pretrain the demo's small CLIP contrastively on synthetic stills.

Paper mode starts from OpenAI's web-image CLIP; no weights can be downloaded here, so the demo makes its own
stand-in: a small open_clip CLIP trained on stills whose captions name colour, shape, position and size but
never motion. Like web-image CLIP it then knows objects, not actions, and the video stages load its checkpoint
through exactly the code paper mode uses for ViT-B/16.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vifi import kernels
from vifi.data.frames.transforms import EvalTransform
from vifi.engine import schedule
from vifi.engine.devices import autocast, pick_device, seed_everything
from vifi.io import atomic_path
from vifi.models.pretrained import build_clip, save_weights
from vifi.progress import progress_bar
from vifi.provenance import environment, plain

log = logging.getLogger(__name__)
MAX_LOGIT_SCALE = math.log(100.0)  # CLIP clamps its temperature here during pretraining


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, caption_ids: torch.Tensor, scale: torch.Tensor):
    """Symmetric InfoNCE between images and their captions, treating identical captions as positives.

    `text` holds one feature per *distinct* caption of the batch and `caption_ids[i]` names image i's row.
    Many stills share a caption ("a red circle"), so the usual one-positive-per-row target would push apart
    pairs that match; spreading each image's target over all images with the same caption avoids that.
    """
    logits = scale * image @ text[caption_ids].t()
    same = (caption_ids[:, None] == caption_ids[None, :]).float()
    targets = same / same.sum(dim=1, keepdim=True)
    loss_i = torch.sum(-targets * F.log_softmax(logits, dim=1), dim=1).mean()
    loss_t = torch.sum(-targets * F.log_softmax(logits.t(), dim=1), dim=1).mean()
    return (loss_i + loss_t) / 2


def load_stills(path: Path, input_size: int) -> tuple[torch.Tensor, list[str], torch.Tensor]:
    """Stills preprocessed once with the video stages' evaluation transform (same resize, crop, statistics),
    the distinct captions, and each still's index into them."""
    with np.load(path) as data:
        images = EvalTransform(input_size)(data["images"])
        captions, caption_ids = np.unique(data["captions"], return_inverse=True)
    return images, [str(c) for c in captions], torch.from_numpy(caption_ids.astype(np.int64))


def step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    tokens: torch.Tensor,
    caption_ids: torch.Tensor,
    device: torch.device,
) -> torch.Tensor:
    """One contrastive update on a batch of stills, `tokens` holding each of its distinct captions once; the
    temperature is clamped afterwards, as CLIP's is. Returns the loss."""
    with autocast(device):
        img = F.normalize(model.encode_image(images.to(device)), dim=-1)
        txt = F.normalize(model.encode_text(tokens.to(device)), dim=-1)
        loss = contrastive_loss(img, txt, caption_ids.to(device), model.logit_scale.exp())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
    return loss


@dataclass(frozen=True)
class PretrainConfig:
    """Everything one pretraining run is given: the stills, the architecture, the recipe and where it writes."""

    stills: Path
    arch: str
    epochs: int
    warmup_epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    seed: int
    threads: int
    out: Path
    log_csv: Path


def train(args: PretrainConfig) -> None:
    """Run the pretraining loop and save the checkpoint and the loss curve."""
    seed_everything(args.seed)
    torch.set_num_threads(args.threads)  # fixed, not the machine's: the floats depend on it (vifi.kernels)
    kernels.apply_onednn_switch()
    device = pick_device()
    model, tokenizer = build_clip(args.arch)
    model.to(device).train()
    images, captions, caption_ids = load_stills(args.stills, model.visual.image_size[0])
    tokens = tokenizer(captions)
    iters = len(images) // args.batch_size
    optimizer = schedule.adamw(model.named_parameters(), args.lr, args.weight_decay)
    scheduler = schedule.cosine(optimizer, args.lr, args.epochs, args.warmup_epochs, iters)
    rows = []
    for epoch in range(args.epochs):
        order = torch.randperm(len(images))
        bar = progress_bar(range(iters), desc=f"pretrain epoch {epoch + 1}/{args.epochs}", leave=False)
        for it in bar:
            idx = order[it * args.batch_size : (it + 1) * args.batch_size]
            distinct, batch_ids = caption_ids[idx].unique(return_inverse=True)  # encode each caption once
            loss = step(model, optimizer, images[idx], tokens[distinct], batch_ids, device)
            scheduler.step_update(epoch * iters + it + 1)
            rows.append((epoch, epoch * iters + it, loss.item(), optimizer.param_groups[0]["lr"]))
            bar.set_postfix(loss=f"{rows[-1][2]:.3f}")
        log.info("epoch %d: loss %.4f", epoch + 1, rows[-1][2])
    record = {"args": plain(vars(args)), **environment(device)}
    save_weights(model.cpu(), args.out, arch=args.arch, stage="pretrain", seed=args.seed, **record)
    with atomic_path(args.log_csv) as tmp, open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows([("epoch", "step", "loss", "lr"), *rows])
