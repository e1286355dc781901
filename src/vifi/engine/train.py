"""Fine-tune a CLIP video model with the paper's recipe (METHODS.md §1, §3, §4).

Clips come from the frame store (decoded once, not every epoch), go through the paper's augmentations, are
mixed with timm's mixup/cutmix (the cutmix box is the same in every frame), and train with soft-target
cross-entropy under AdamW and timm's per-iteration cosine schedule. Text features are recomputed each step
only when the text encoder trains. An epoch end at least `--resume-interval` seconds after the last resume
point writes a new one, atomically.

Every random draw is a function of (seed, epoch, item) or (seed, rank, epoch, step), never of how far a
process's RNG happens to have advanced: a run resumed after a kill repeats the uninterrupted run exactly,
and under torchrun each process sees its share of the same seeded permutation.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from timm.data import Mixup
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler

from vifi import provenance
from vifi.data.frames.allocator import keep_freed_buffers
from vifi.data.frames.dataset import ClipDataset
from vifi.data.frames.store import FrameStore
from vifi.data.frames.transforms import NORMALIZATION, DeviceAugment, EVLTrainTransform, TrainTransform
from vifi.data.lists.annotations import read_labels, read_list
from vifi.engine import checkpoint, distributed, schedule
from vifi.engine.devices import autocast
from vifi.io import atomic_path
from vifi.models.factory import build_model, saved_module, spec_of
from vifi.models.pretrained import save_weights
from vifi.progress import progress_bar

log = logging.getLogger(__name__)
# Options that change how a run executes, not what it computes.
NOT_IN_FINGERPRINT = ("threads", "workers", "resume_interval", "device_augment")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run is given, in the order and with the names of `vifi train`'s flags (its record
    and fingerprint list them so): inputs, the model (`options`: every catalog option, None where unset), the
    recipe, how fast it runs, and its outputs. Sequences stay lists, as the record has always held them."""

    frames: list[Path]
    train_list: Path
    labels: Path
    weights: Path
    arch: str
    method: str
    num_frames: int
    options: Mapping[str, int | None]
    grad_checkpointing: bool
    epochs: int
    warmup_epochs: int
    lr: float
    weight_decay: float
    betas: list[float]
    decay_exclusions: bool
    warmup_jump: bool
    min_lr_ratio: float
    normalize: str
    augment: str
    sampling: str
    stride: int
    batch_size: int
    effective_batch: int
    label_smoothing: float
    mixup: float
    cutmix: float
    mixup_switch_prob: float
    hflip: float
    color_jitter: float
    grayscale: float
    rng_seed: int
    device_augment: bool
    workers: int
    threads: int
    resume_interval: float
    out: Path
    log_csv: Path


class ClipMixup:
    """timm's Mixup applied to `(B, T, C, H, W)` clips by folding time into channels.

    timm pastes the cutmix box on the last two dims of a 4-D batch; folding T into C makes the same box land in
    every frame, which is what the paper does. Without mixing, targets are smoothed one-hot vectors.
    """

    def __init__(self, args: TrainConfig, num_classes: int) -> None:
        self.active = args.mixup > 0 or args.cutmix > 0
        self.mixup = Mixup(
            mixup_alpha=args.mixup,
            cutmix_alpha=args.cutmix,
            switch_prob=args.mixup_switch_prob,
            label_smoothing=args.label_smoothing,
            num_classes=num_classes,
        )

    def __call__(self, clips: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.active:
            return clips, labels
        b, t, c, h, w = clips.shape
        mixed, targets = self.mixup(clips.reshape(b, t * c, h, w), labels)
        return mixed.view(b, t, c, h, w), targets


def criterion(args: TrainConfig) -> torch.nn.Module:
    """Soft-target CE with mixing; the code's fallbacks (smoothed or plain CE) without it."""
    if args.mixup > 0 or args.cutmix > 0:
        return SoftTargetCrossEntropy()
    if args.label_smoothing > 0:
        return LabelSmoothingCrossEntropy(args.label_smoothing)
    return torch.nn.CrossEntropyLoss()


def fingerprint(args: TrainConfig) -> str:
    """Hash of everything that defines the run, so a stale resume point from other settings is discarded."""
    keys = {k: str(v) for k, v in sorted(provenance.settings(args).items()) if k not in NOT_IN_FINGERPRINT}
    return hashlib.sha256(json.dumps(keys).encode()).hexdigest()


def seed_step(seed: int, rank: int, epoch: int, step: int) -> None:
    """Seed torch and numpy (timm's mixup) per mini-batch, so a resumed run repeats the same draws."""
    state = np.random.SeedSequence([seed, rank, epoch, step]).generate_state(2)
    torch.manual_seed(int(state[0]))
    np.random.seed(int(state[1]))


class ClassifyStep(nn.Module):
    """Text features plus logits in one forward, so DDP sees (and synchronises) every trainable parameter.

    When the text tower trains under several processes, each encodes only its `1/world` of the class prompts
    and the features are all-gathered with their gradients (`distributed.gather_rows`): the text FLOPs per
    process fall by the world size, while the logits and, after DDP's averaging, the gradients stay those of
    every process encoding every prompt.
    """

    def __init__(self, model: nn.Module, tokens: torch.Tensor, world: distributed.World | None = None) -> None:
        super().__init__()
        self.model = model
        self.world = world if world is not None and world.size > 1 else None
        self.register_buffer("tokens", tokens, persistent=False)
        with torch.no_grad():
            frozen = None if model.text_trains else model.encode_text(tokens)
        self.register_buffer("frozen_text", frozen, persistent=False)

    def text_features(self) -> torch.Tensor:
        """`(K, D)` features of all class prompts: cached when frozen, else encoded (sharded under DDP)."""
        if self.frozen_text is not None:
            return self.frozen_text
        if self.world is None:
            return self.model.encode_text(self.tokens)
        # The shard is cut here, not stored: DDP broadcasts rank 0's buffers to every rank before each forward.
        shard = self.model.encode_text(distributed.shard_rows(self.tokens, self.world))
        return distributed.gather_rows(shard, len(self.tokens), self.world)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.model(clips, self.text_features())


def train_transform(args: TrainConfig, input_size: int):
    """The paper's augmentations (METHODS §4.3) or EVL's RandAugment + random-resized crop (§7.2)."""
    mean, std = NORMALIZATION[args.normalize]
    if args.augment == "evl":
        return EVLTrainTransform(input_size, mean=mean, std=std)
    return TrainTransform(
        input_size,
        hflip=args.hflip,
        color_jitter=args.color_jitter,
        grayscale=args.grayscale,
        mean=mean,
        std=std,
        on_device=args.device_augment,
    )


def device_augment(args: TrainConfig, input_size: int) -> DeviceAugment | None:
    """The crop's resize and the photometric half of the paper's augmentation, run on each batch where the
    model runs, or None when the loader workers run all of it (`--no-device-augment`)."""
    return DeviceAugment(input_size, *NORMALIZATION[args.normalize]) if args.device_augment else None


def to_device(
    clips: torch.Tensor | dict[str, torch.Tensor], device: torch.device, augment: DeviceAugment | None
) -> torch.Tensor:
    """A loader batch on `device`, augmented there when the workers left the photometric steps to it."""
    if augment is None:
        return clips.to(device)
    return augment({name: value.to(device, non_blocking=True) for name, value in clips.items()})


def build_loader(args: TrainConfig, num_classes: int, input_size: int, world: distributed.World):
    """Each process's share of every epoch: a seeded permutation split by rank, drop_last as in the paper."""
    items = read_list(args.train_list, num_classes)
    transform = train_transform(args, input_size)
    dataset = ClipDataset(
        FrameStore(args.frames),
        items,
        args.num_frames,
        transform,
        train=True,
        source=str(args.train_list),
        seed=args.rng_seed,
        sampling=args.sampling,
        stride=args.stride,
    )
    if len(dataset) < args.batch_size * world.size:
        raise ValueError(
            f"{args.train_list}: {len(dataset)} videos, fewer than one batch of "
            f"{args.batch_size} x {world.size} processes"
        )
    sampler = DistributedSampler(
        dataset, num_replicas=world.size, rank=world.rank, shuffle=True, seed=args.rng_seed, drop_last=True
    )
    loader = DataLoader(
        dataset, batch_size=args.batch_size, sampler=sampler, drop_last=True, num_workers=args.workers
    )
    return dataset, sampler, loader


def initial_model(args: TrainConfig) -> nn.Module:
    """The model before training, its new parts (EVL's decoder, prompt vectors) drawn from `--rng-seed`.

    Without the seed those parts differ from run to run, and so would every EVL and prompting result.
    """
    torch.manual_seed(args.rng_seed)
    return build_model(spec_of(args), args.weights)


def inputs(args: TrainConfig) -> dict:
    """Every file the run reads, by hash: initial weights, frame-store manifest, training list and labels."""
    return {
        "weights": provenance.file_record(args.weights),
        "frames": provenance.files_record(args.frames),
        "train_list": provenance.file_record(args.train_list),
        "labels": provenance.file_record(args.labels),
    }


def run(args: TrainConfig, argv: Sequence[str]) -> None:
    """Train, logging loss and LR per mini-batch, then save the final weights (rank 0) with the run's record:
    `argv`, the resolved arguments, the inputs by hash and the environment (`vifi.provenance`)."""
    torch.set_num_threads(args.threads)
    keep_freed_buffers()  # before the loader forks its workers, which inherit it
    world = distributed.init()
    read = inputs(args)
    accumulation = distributed.accumulation_steps(args.effective_batch, args.batch_size, world.size)
    classnames = read_labels(args.labels)
    model = initial_model(args).to(world.device)
    saved = saved_module(model)
    input_size = model.clip.visual.image_size[0]
    dataset, sampler, loader = build_loader(args, len(classnames), input_size, world)
    iters = len(loader)
    optimizer = schedule.adamw(
        saved.named_parameters(),
        args.lr,
        args.weight_decay,
        betas=tuple(args.betas),
        exclude_from_decay=args.decay_exclusions,
    )
    scheduler = schedule.cosine(
        optimizer,
        args.lr,
        args.epochs,
        args.warmup_epochs,
        iters,
        warmup_jump=args.warmup_jump,
        min_lr_ratio=args.min_lr_ratio,
    )
    mix, loss_fn = ClipMixup(args, len(classnames)), criterion(args)
    augment = device_augment(args, input_size)
    step_module = ClassifyStep(model, model.tokenize(classnames).to(world.device), world)
    net = DDP(step_module) if world.size > 1 else step_module

    resume_path = args.out.with_name(args.out.name + ".resume")
    state = checkpoint.load(resume_path, fingerprint(args))
    start, rows = 0, []
    if state is not None:
        saved.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, rows = state["epoch"], [tuple(r) for r in state["rows"]]
        log.info("resuming %s after epoch %d", args.out, start)

    last_saved = time.monotonic()
    for epoch in range(start, args.epochs):
        model.train()
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        optimizer.zero_grad(set_to_none=True)
        bar = progress_bar(
            loader,
            desc=f"{args.method} epoch {epoch + 1}/{args.epochs}",
            leave=False,
            disable=not world.is_main,
        )
        for idx, (clips, labels) in enumerate(bar):
            seed_step(args.rng_seed, world.rank, epoch, idx)
            clips, targets = mix(to_device(clips, world.device, augment), labels.to(world.device))
            apply = (idx + 1) % accumulation == 0
            sync = contextlib.nullcontext() if apply or world.size == 1 else net.no_sync()
            with sync, autocast(world.device):
                loss = loss_fn(net(clips).float(), targets) / accumulation
                loss.backward()
            if apply:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step_update(epoch * iters + idx)
            rows.append(
                (epoch, epoch * iters + idx, loss.item() * accumulation, optimizer.param_groups[0]["lr"])
            )
            bar.set_postfix(loss=f"{rows[-1][2]:.3f}")
        log.info(
            "epoch %d/%d: mean loss %.4f", epoch + 1, args.epochs, sum(r[2] for r in rows[-iters:]) / iters
        )
        due = time.monotonic() - last_saved >= args.resume_interval
        if world.is_main and due and epoch + 1 < args.epochs:
            last_saved = time.monotonic()
            checkpoint.save(
                resume_path,
                fingerprint=fingerprint(args),
                epoch=epoch + 1,
                model=saved.state_dict(),
                optimizer=optimizer.state_dict(),
                scheduler=scheduler.state_dict(),
                rows=rows,
            )
        distributed.barrier(world)

    if world.is_main:
        with atomic_path(args.log_csv) as tmp, open(tmp, "w", newline="") as fh:
            csv.writer(fh).writerows([("epoch", "step", "loss", "lr"), *rows])
        record = provenance.train_record(
            argv,
            provenance.settings(args),
            read,
            world_size=world.size,
            accumulation=accumulation,
            environment=provenance.environment(world.device),
        )
        save_weights(saved.cpu(), args.out, **record)
        resume_path.unlink(missing_ok=True)
    distributed.shutdown(world)
