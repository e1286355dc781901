"""Training step time, peak memory and achieved FLOP/s on CPU, for each step option our models support.

Compared, side by side in one run (the variants take turns on one model, `harness.in_turn`), for the demo
model (`vifi-tiny`, 8 frames at its 32 px, batch 8 as in the demo's `train.batch_size`, 24 classes) and
ViT-B/16 (`ViT-B-16-quickgelu`, 8x224, batch 2, 400 classes):

- baseline: what `vifi train` runs on a CPU: fp32, torch's default attention kernel (printed);
- checkpointing: `--grad-checkpointing` (open_clip's `set_grad_checkpointing`), blocks recompute their
  activations in backward;
- math attention: `scaled_dot_product_attention` held to `SDPBackend.MATH`, the reference kernel;
- channels-last: weights and input frames in channels-last layout. In a ViT the patch-embedding convolution
  is the only 4-D operation whose layout this changes; every other operation is a matmul over (tokens, width).
  It is measured anyway and the output says so.

The step is `ClassifyStep` (as `vifi train` builds it) of the `image` method: the vision tower trains and the
class-prompt features are encoded once and reused; then cross-entropy, backward and the fused AdamW step. A
text-training method would re-encode all K prompts each step (`eval_text_cache.py` measures that); at 400
classes that would dwarf the video side, which is where these options act.

Peak memory: the resident set's high-water mark during the step (Linux `VmHWM`, reset through
`/proc/self/clear_refs`) minus the resident set at its start, after `malloc_trim` handed freed heap back. It
counts activations, gradients and allocator slack, not the weights and optimiser state that exist before the
step. tracemalloc cannot see torch's allocations, and torch.profiler's overhead would distort the timing.

FLOPs per step come from `torch.utils.flop_counter` through `vifi.flops.train_flops`, on the meta device:
forward + backward, 2 FLOPs per multiply-add, matmuls and convolutions only (the optimiser's elementwise work is
not counted). Achieved FLOP/s is the model's FLOPs per step over the step time (checkpointing executes more:
the recomputed forward, printed apart), as a fraction of the fp32 peak of this machine: the best of repeated
`torch.mm` of 2048x2048 matrices on one thread, measured at the start and the end of the run.

    .venv/bin/python benchmarks/train_step.py [--quick] [--out DIR]
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from harness import elapsed, in_turn, parse_args, per_core, write_results
from torch.nn.attention import SDPBackend, sdpa_kernel

from vifi.engine import schedule
from vifi.engine.train import ClassifyStep
from vifi.flops import meta_model, train_flops
from vifi.models.factory import ModelSpec
from vifi.models.pretrained import build_clip
from vifi.models.vificlip import VideoCLIP

METHOD = "image"
VARIANTS = ("baseline", "checkpointing", "math attention", "channels-last")
MATMUL_SIZE, QUICK_MATMUL_SIZE = 2048, 1024
MATMUL_REPEATS = 5
STATUS = Path("/proc/self/status")
_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))


@dataclass(frozen=True)
class Setup:
    """One model's step: architecture, frames, clips per batch, classes, timed rounds of all variants."""

    arch: str
    frames: int
    batch: int
    classes: int
    rounds: int


SETUPS = {
    "vifi-tiny": Setup("vifi-tiny", 8, 8, 24, 10),
    "vit-b-16": Setup("ViT-B-16-quickgelu", 8, 2, 400, 2),
}
QUICK_SETUPS = {"vifi-tiny": Setup("vifi-tiny", 8, 8, 24, 2)}


def matmul_peak(size: int) -> float:
    """FLOP/s of the fastest of `MATMUL_REPEATS` fp32 `torch.mm` calls on two `size` x `size` matrices."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    return 2 * size**3 / min(elapsed(torch.mm, a, b) for _ in range(MATMUL_REPEATS))


def _status_kb(field: str) -> int:
    line = next(line for line in STATUS.read_text().splitlines() if line.startswith(f"{field}:"))
    return int(line.split()[1])


def reset_peak() -> int:
    """Return freed heap to the OS, reset the resident high-water mark; return the resident set in bytes."""
    _LIBC.malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    return 1024 * _status_kb("VmRSS")


def peak_since(start: int) -> int:
    """Bytes by which the resident set's high-water mark exceeds `start`."""
    return 1024 * _status_kb("VmHWM") - start


@contextlib.contextmanager
def variant(name: str, model: VideoCLIP) -> Iterator[None]:
    """Switch `model` (and attention) into the variant `name` for the block, and back after it."""
    if name == "checkpointing":
        model.clip.set_grad_checkpointing(True)
    if name == "channels-last":
        model.to(memory_format=torch.channels_last)
    kernel = sdpa_kernel(SDPBackend.MATH) if name == "math attention" else contextlib.nullcontext()
    try:
        with kernel:
            yield
    finally:
        model.clip.set_grad_checkpointing(False)
        model.to(memory_format=torch.contiguous_format)


def default_attention(model: VideoCLIP, setup: Setup) -> str:
    """The kernel torch's dispatcher picks for the vision blocks' attention in training (CPU, fp32)."""
    visual = model.clip.visual
    attn = visual.transformer.resblocks[0].attn
    tokens = (visual.image_size[0] // visual.patch_size[0]) ** 2 + 1
    shape = (setup.batch * setup.frames, attn.num_heads, tokens, attn.embed_dim // attn.num_heads)
    q = torch.randn(shape, requires_grad=True)
    # The dispatcher's own (private) query: the choice `scaled_dot_product_attention` makes for these inputs.
    return SDPBackend(torch._fused_sdp_choice(q, q, q)).name


def step_flops(setup: Setup, checkpointing: bool) -> int:
    """Forward + backward FLOPs of one batch, counted on the meta device; text features are inputs."""
    model = meta_model(ModelSpec(METHOD, setup.arch, setup.frames, grad_checkpointing=checkpointing))
    size = model.clip.visual.image_size
    video = torch.empty(setup.batch, setup.frames, 3, *size, device="meta")
    text = torch.empty(setup.classes, model.clip.visual.output_dim, device="meta")
    return train_flops(model, video, text)


def measure(setup: Setup) -> tuple[int, str, dict[str, dict[str, float]]]:
    """Input size, default attention kernel and, per variant, median step seconds and largest peak memory."""
    clip, tokenizer = build_clip(setup.arch)
    model = VideoCLIP(clip, tokenizer, METHOD).train()
    net = ClassifyStep(model, model.tokenize([f"action number {i}" for i in range(setup.classes)]))
    optimizer = schedule.adamw(model.named_parameters(), lr=1e-5, weight_decay=0.001)
    size = clip.visual.image_size[0]
    frames = torch.randn(setup.batch, setup.frames, size, size, 3)
    inputs = {
        "standard": frames.permute(0, 1, 4, 2, 3).contiguous(),
        "channels-last": frames.permute(0, 1, 4, 2, 3),
    }
    labels = torch.randint(setup.classes, (setup.batch,))

    def step(video: torch.Tensor) -> None:
        loss = F.cross_entropy(net(video), labels)
        loss.backward()
        optimizer.step()

    step(inputs["standard"])  # warm-up: optimiser state, kernel caches
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    peaks: dict[str, list[int]] = {name: [] for name in VARIANTS}
    for name in in_turn(VARIANTS, setup.rounds):
        with variant(name, model):
            optimizer.zero_grad(set_to_none=True)
            start = reset_peak()
            seconds[name].append(
                elapsed(step, inputs["channels-last" if name == "channels-last" else "standard"])
            )
            peaks[name].append(peak_since(start))
    rows = {
        name: {"seconds": statistics.median(seconds[name]), "peak_bytes": max(peaks[name])} for name in VARIANTS
    }
    return size, default_attention(model, setup), rows


def report(name: str, setup: Setup, peak: float) -> tuple[dict[str, float], dict[str, object]]:
    """Measure one model, print its table; return its ratios and figures."""
    size, kernel, rows = measure(setup)
    flops, executed = step_flops(setup, False), step_flops(setup, True)
    base = rows["baseline"]
    print(
        f"\n{name} ({setup.arch}): {setup.frames} frames x {size} px, batch {setup.batch}, {setup.classes} "
        f"classes; default attention kernel {kernel}; {flops / 1e9:.1f} GFLOP/step"
    )
    print(
        f"{'variant':>15} {'s/step':>8} {'x base':>7} {'peak MB':>8} {'x base':>7} {'GFLOP/s':>8}"
        f" {'of peak':>8}"
    )
    ratios = {f"{name}_baseline_fraction_of_matmul_peak": flops / base["seconds"] / peak}
    for variant_name, row in rows.items():
        time_ratio, memory_ratio = row["seconds"] / base["seconds"], row["peak_bytes"] / base["peak_bytes"]
        achieved = flops / row["seconds"]
        print(
            f"{variant_name:>15} {row['seconds']:>8.3f} {time_ratio:>7.2f} {row['peak_bytes'] / 1e6:>8.1f}"
            f" {memory_ratio:>7.2f} {achieved / 1e9:>8.1f} {achieved / peak:>8.1%}"
        )
        if variant_name != "baseline":
            slug = variant_name.replace(" ", "_").replace("-", "_")
            ratios[f"{name}_{slug}_time_over_baseline"] = time_ratio
            ratios[f"{name}_{slug}_peak_memory_over_baseline"] = memory_ratio
    recompute = executed / rows["checkpointing"]["seconds"]
    print(
        f"  checkpointing executes {executed / 1e9:.1f} GFLOP/step ({executed / flops:.2f}x, the recomputed "
        f"forward): {recompute / 1e9:.1f} GFLOP/s, {recompute / peak:.1%} of peak"
    )
    print("  channels-last: in a ViT only the patch-embedding convolution changes layout")
    figures = {
        "arch": setup.arch,
        "frames": setup.frames,
        "input_size": size,
        "batch": setup.batch,
        "classes": setup.classes,
        "default_attention": kernel,
        "flops_per_step": flops,
        "executed_flops_with_checkpointing": executed,
        "variants": rows,
    }
    return ratios, figures


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    per_core()
    size = QUICK_MATMUL_SIZE if args.quick else MATMUL_SIZE
    start = matmul_peak(size)
    results = {
        name: report(name, setup, start) for name, setup in (QUICK_SETUPS if args.quick else SETUPS).items()
    }
    peak = max(start, matmul_peak(size))
    print(
        f"\nfp32 matmul peak, one thread (torch.mm {size}x{size}): {start / 1e9:.1f} GFLOP/s at the start, "
        f"used above; {peak / 1e9:.1f} best of start and end"
    )
    ratios = {key: value for model_ratios, _ in results.values() for key, value in model_ratios.items()}
    figures = {name: model_figures for name, (_, model_figures) in results.items()}
    figures["matmul_peak_flops"] = {"start": start, "best": peak, "size": size}
    write_results(args.out, "train_step", ratios, figures)


if __name__ == "__main__":
    main()
