"""ViFi-CLIP training step on a GPU: the anchor-like setting against ours, step time, MFU and peak memory.

Compared, side by side in one run (the variants take turns, `harness.in_turn`), for ViT-B/16
(`ViT-B-16-quickgelu`, 224 px) at 16 and 32 frames with the paper's per-GPU batch of 4 clips:

- anchor: what the released code's apex O1 amounts to: fp16 autocast with dynamic loss scaling, attention held
  to `SDPBackend.MATH` (the unfused softmax(QK^T)V of the original CLIP blocks), AdamW without fusion;
- ours: bf16 autocast (no loss scaling), torch's own choice of fused attention kernel (flash or
  memory-efficient; printed), fused AdamW, channels-last frames, and the model under `torch.compile`
  (`--no-compile` leaves it out).

The step is `ClassifyStep` of the `vifi` method, as `vifi train` builds it: both towers train, so each step
encodes the class prompts, forward and backward. `--classes` defaults to 50, each GPU's share of Kinetics-400's
400 prompts when the text tower is sharded over 8 GPUs (`distributed.shard_rows`; the all-gather is left out,
as this runs on one GPU). FLOPs per step come from `vifi.flops` (matmuls and convolutions, 2 per multiply-add,
counted on the meta device): the video side's forward + backward plus the prompts' forward + backward. MFU is
those FLOPs per second over the device's dense bf16 peak (`PEAK_BF16`, or `--peak-tflops`) for both variants,
so the anchor's fp16 is held to the same peak (equal on these GPUs).

Without a GPU the same code runs on CPU with the demo's `vifi-tiny` model (8 frames at 32 px, batch 4, 5
classes, no compile), so that the tests can run it; MFU is then against the fp32 peak of one thread's
`torch.mm`, and the figures say nothing about a GPU. On a GPU it takes a few minutes, most of them compiling.

    .venv/bin/python benchmarks/gpu_step.py [--quick] [--out DIR] [--frames 16 32] [--no-compile]
"""

from __future__ import annotations

import contextlib
import copy
import functools
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from harness import build_parser, elapsed, in_turn, write_results
from torch.nn.attention import SDPBackend, sdpa_kernel
from train_step import matmul_peak, peak_since, reset_peak

from vifi.engine.train import ClassifyStep
from vifi.flops import meta_model, text_flops, train_flops
from vifi.models.factory import ModelSpec
from vifi.models.pretrained import build_clip
from vifi.models.vificlip import VideoCLIP

GPU_ARCH, CPU_ARCH = "ViT-B-16-quickgelu", "vifi-tiny"
GPU_FRAMES, CPU_FRAMES = (16, 32), (8,)
BATCH = 4  # TRAIN.BATCH_SIZE of every ViFi-CLIP config (METHODS §3.1)
GPU_CLASSES, CPU_CLASSES = 50, 5  # 400 prompts over 8 GPUs; a handful for the tiny model
STEPS, QUICK_STEPS = 10, 2  # timed steps per variant
WARMUP = 3  # untimed steps per variant first: compilation, kernel selection, optimiser state
VARIANTS = ("anchor", "ours")
# Dense bf16 tensor-core peaks (FLOP/s) by device name; fp16 is the same on these parts.
PEAK_BF16 = {"H200": 989e12, "H100 PCIe": 756e12, "H100": 989e12, "A100": 312e12}
TARGET_MFU = 0.40


@dataclass(frozen=True)
class Variant:
    """How one step runs: autocast dtype, loss scaling, attention kernels, fused AdamW, layout, compilation."""

    dtype: torch.dtype
    scaled: bool
    math_attention: bool
    fused_adamw: bool
    channels_last: bool
    compiled: bool


def variants(cuda: bool, compile_model: bool) -> dict[str, Variant]:
    """The anchor-like setting and ours; on CPU without fused AdamW or compilation (tests only)."""
    return {
        "anchor": Variant(torch.float16, True, True, False, False, False),
        "ours": Variant(torch.bfloat16, False, False, cuda, True, cuda and compile_model),
    }


def peak_flops(device: torch.device, given: float | None) -> tuple[float, str]:
    """The peak that MFU is measured against, and where it comes from."""
    if given is not None:
        return given * 1e12, "--peak-tflops"
    if device.type == "cpu":
        return matmul_peak(1024), "one thread's fp32 torch.mm (CPU)"
    name = torch.cuda.get_device_name(device)
    for part, peak in PEAK_BF16.items():
        if part in name:
            return peak, f"{name}: dense bf16 peak of the {part}"
    raise SystemExit(f"no bf16 peak known for {name!r}; pass --peak-tflops")


def step_flops(arch: str, frames: int, classes: int) -> int:
    """Forward + backward FLOPs of one step: the batch's video side plus the prompts' text side."""
    model = meta_model(ModelSpec("vifi", arch, frames))
    size = model.clip.visual.image_size
    video = torch.empty(BATCH, frames, 3, *size, device="meta")
    text = torch.empty(classes, model.clip.visual.output_dim, device="meta", requires_grad=True)
    tokens = model.tokenize([f"action number {i}" for i in range(classes)])
    return train_flops(model, video, text) + text_flops(model, tokens, train=True)


def make_step(model: VideoCLIP, tokens: torch.Tensor, variant: Variant) -> Callable[[torch.Tensor], None]:
    """One training step of `model` in `variant`: forward under autocast, loss, backward, AdamW."""
    device = tokens.device
    if variant.channels_last:
        model.to(memory_format=torch.channels_last)
    net = ClassifyStep(model, tokens)
    forward = torch.compile(net) if variant.compiled else net
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=1e-6,
        betas=(0.9, 0.98),
        weight_decay=0.001,
        **({"fused": True} if variant.fused_adamw else {}),
    )
    scaler = torch.amp.GradScaler(device.type, enabled=variant.scaled)
    attention = (
        functools.partial(sdpa_kernel, SDPBackend.MATH) if variant.math_attention else contextlib.nullcontext
    )
    labels = torch.arange(BATCH, device=device) % len(tokens)

    def step(video: torch.Tensor) -> None:
        with attention(), torch.autocast(device.type, dtype=variant.dtype):
            loss = F.cross_entropy(forward(video).float(), labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    return step


def synchronised(step: Callable[[torch.Tensor], None], device: torch.device) -> Callable[[torch.Tensor], None]:
    """`step` followed by a wait for the device, so that wall time covers the queued kernels."""

    def run(video: torch.Tensor) -> None:
        step(video)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return run


@contextlib.contextmanager
def peak_memory(device: torch.device) -> Iterator[Callable[[], int]]:
    """Yield a function giving the peak bytes above those in use when the block began (CUDA allocator, or the
    resident set's high-water mark on CPU): activations, gradients, optimiser state made in the block."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        yield lambda: torch.cuda.max_memory_allocated(device) - start
    else:
        start = reset_peak()
        yield lambda: peak_since(start)


def attention_kernel(model: VideoCLIP, frames: int, device: torch.device) -> str:
    """The kernel torch's dispatcher picks for the vision blocks' attention under bf16 on `device`."""
    visual = model.clip.visual
    attn = visual.transformer.resblocks[0].attn
    tokens = (visual.image_size[0] // visual.patch_size[0]) ** 2 + 1
    shape = (BATCH * frames, attn.num_heads, tokens, attn.embed_dim // attn.num_heads)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    q = torch.randn(shape, device=device, dtype=dtype, requires_grad=True)
    return SDPBackend(torch._fused_sdp_choice(q, q, q)).name


def measure(arch: str, frames: int, classes: int, device: torch.device, steps: int, compile_model: bool):
    """Per variant: median seconds per step and peak bytes, after `WARMUP` steps; the default kernel."""
    torch.manual_seed(0)
    clip, tokenizer = build_clip(arch)
    base = VideoCLIP(clip, tokenizer, "vifi").to(device).train()
    tokens = base.tokenize([f"action number {i}" for i in range(classes)]).to(device)
    size = clip.visual.image_size[0]
    frames_hwc = torch.randn(BATCH, frames, size, size, 3, device=device)
    channels_last = frames_hwc.permute(0, 1, 4, 2, 3)
    inputs = {False: channels_last.contiguous(), True: channels_last}
    chosen = variants(device.type == "cuda", compile_model)
    steps_by_variant, videos = {}, {}
    for name, variant in chosen.items():
        steps_by_variant[name] = synchronised(make_step(copy.deepcopy(base), tokens, variant), device)
        videos[name] = inputs[variant.channels_last]
    kernel = attention_kernel(base, frames, device)
    del base
    peaks = {}
    for name in VARIANTS:
        with peak_memory(device) as peak:
            for _ in range(WARMUP):
                steps_by_variant[name](videos[name])
            peaks[name] = peak()
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for name in in_turn(VARIANTS, steps):
        seconds[name].append(elapsed(steps_by_variant[name], videos[name]))
    rows = {name: {"seconds": statistics.median(seconds[name]), "peak_bytes": peaks[name]} for name in VARIANTS}
    return rows, kernel


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser(__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", help="frame counts (GPU default 16 32)")
    parser.add_argument("--classes", type=int, help="class prompts encoded per step (GPU default 50)")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="ours without torch.compile")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak, if not in PEAK_BF16")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    if not cuda:
        torch.set_num_threads(1)
    arch = GPU_ARCH if cuda else CPU_ARCH
    frame_counts = args.frames or (GPU_FRAMES if cuda else CPU_FRAMES)
    classes = args.classes or (GPU_CLASSES if cuda else CPU_CLASSES)
    peak, source = peak_flops(device, args.peak_tflops)
    print(
        f"{'GPU' if cuda else 'no GPU: CPU with the tiny model'}; {arch}, batch {BATCH}, {classes} class "
        f"prompts per step; peak {peak / 1e12:.1f} TFLOP/s ({source})"
    )
    ratios: dict[str, float] = {}
    figures: dict[str, object] = {"device": torch.cuda.get_device_name(device) if cuda else "cpu", "peak": peak}
    for frames in frame_counts:
        rows, kernel = measure(
            arch, frames, classes, device, QUICK_STEPS if args.quick else STEPS, args.compile
        )
        flops = step_flops(arch, frames, classes)
        print(f"\n{frames} frames: {flops / 1e9:,.1f} GFLOP/step (vifi.flops); ours' attention kernel {kernel}")
        print(f"{'variant':>8} {'s/step':>8} {'TFLOP/s':>8} {'MFU':>6} {'peak GB':>8}")
        for name, row in rows.items():
            row["mfu"] = flops / row["seconds"] / peak
            print(
                f"{name:>8} {row['seconds']:>8.4f} {flops / row['seconds'] / 1e12:>8.2f} {row['mfu']:>6.1%}"
                f" {row['peak_bytes'] / 1e9:>8.2f}"
            )
        speedup = rows["anchor"]["seconds"] / rows["ours"]["seconds"]
        memory = rows["ours"]["peak_bytes"] / rows["anchor"]["peak_bytes"]
        print(
            f"  anchor / ours step time: {speedup:.2f}x; ours' peak memory {memory:.2f}x the anchor's; ours' "
            f"MFU {rows['ours']['mfu']:.1%} (target >= {TARGET_MFU:.0%} on an H100-class GPU)"
        )
        ratios[f"{frames}f_anchor_time_over_ours"] = speedup
        ratios[f"{frames}f_ours_mfu"] = rows["ours"]["mfu"]
        ratios[f"{frames}f_anchor_mfu"] = rows["anchor"]["mfu"]
        figures[f"{frames}f"] = {"flops_per_step": flops, "attention_kernel": kernel, "variants": rows}
    write_results(args.out, "gpu_step", ratios, figures)


if __name__ == "__main__":
    main()
