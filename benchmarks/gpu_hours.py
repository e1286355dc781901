"""GPU-hours of the paper-mode grid, from FLOPs measured on the real models (ViT-B/16, 224 px).

Per method and frame count, `vifi.flops.measure` counts one view (forward), one training clip (forward +
backward, measured, not 3x forward) and one class prompt. The grid's runs then multiply these by the
paper's recipes (METHODS.md §3.2: frames, epochs, training lists; §5.3: evaluation lists, views; classes):

- training: clips x epochs x train FLOPs per clip, plus, when the text side trains, the K class prompts
  re-encoded (forward + backward) once per mini-batch of `MINI_BATCH` clips, as the paper's code does (§9.8);
  a frozen text side is encoded once per run;
- evaluation: videos x views x forward FLOPs, plus the class list encoded once per list.

FLOPs become GPU-hours at one assumed sustained throughput (`SUSTAINED`). Validation during training, data
loading and decoding are not counted. The model FLOPs are measured on `meta` tensors, so this runs on CPU in
well under a minute.

    .venv/bin/python benchmarks/gpu_hours.py
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import pandas as pd

from vifi.flops import GIGA, ViewCost, measure
from vifi.models.factory import ModelSpec

ARCH = "ViT-B-16"
PEAK_A100_BF16 = 312e12  # FLOP/s, dense tensor cores
MFU = 0.35  # assumed model-FLOPs utilisation of a well-fed fine-tuning job
SUSTAINED = PEAK_A100_BF16 * MFU
PEAK_V100_FP16 = 125e12  # FLOP/s, tensor cores (SXM2); EVL's README quotes V100 hours
MINI_BATCH = 4  # clips per GPU per forward: TRAIN.BATCH_SIZE in every ViFi-CLIP config (§3.1)
PETA = 1e15

K400_TRAIN = 240_000  # "≈240k videos" (§3.3); the official train list is not in the mirror
K400_VAL = 19_877
B2N_PROMPTS = {"n_ctx_vision": 16, "n_ctx_text": 16, "depth_vision": 9, "depth_text": 9}  # §2.3 base-to-novel
FEW_SHOT_PROMPTS = {"n_ctx_vision": 10, "n_ctx_text": 10, "depth_vision": 12, "depth_text": 12}  # §2.3 few-shot
EVL_LAYERS = 4  # the EVL decoder depth (params.yaml evl.layers, which the paper grid keeps)
SEEDS = 3

# Published per-view compute, as printed (multiply-adds, fvcore convention).
VIFI_16F_PUBLISHED_GFLOPS = 281  # ViFi-CLIP README, fully supervised K400, 16x224 (published.yaml)
EVL_8F_PUBLISHED_GFLOPS = 444 / 3  # EVL paper, B/16 8 frames, 3 views; not in published.yaml, unverified
VIFI_K400_30EP_A100_HOURS = 8 * 24  # maintainers, issue #5: "about 1 day" on 8 A100 for 30 K400 epochs
EVL_8F_V100_HOURS = 60  # EVL README: B/16, 8 frames, 50 epochs in 60 V100 GPU-hours
EVL_RECIPE_CLIPS = 50_000 * 256  # released scripts: 50k steps of a global batch of 256 (§7.2)


@dataclass(frozen=True)
class Eval:
    """One evaluation list: its videos, the classes scored against, views per video."""

    videos: int
    classes: int
    views: int = 1


@dataclass(frozen=True)
class Job:
    """`runs` identical runs of one method: training (none when `train_videos` is 0), then evaluations."""

    protocol: str
    dataset: str
    method: str
    frames: int
    runs: int
    train_videos: int
    epochs: int
    train_classes: int
    evals: tuple[Eval, ...]
    prompt: tuple[tuple[str, int], ...] = tuple(B2N_PROMPTS.items())

    @property
    def spec(self) -> ModelSpec:
        """The measured model; prompt settings only shape the prompt method, the decoder depth only EVL."""
        options = {"prompt": dict(self.prompt), "evl": {"evl_layers": EVL_LAYERS}}.get(self.method, {})
        return ModelSpec(self.method, ARCH, self.frames, options)


ZERO_SHOT_EVALS = (
    *(Eval(1530, 51) for _ in range(3)),  # HMDB-51 val1-3
    Eval(3783, 101),  # UCF-101 val1-3
    Eval(3734, 101),
    Eval(3696, 101),
    Eval(14084, 160),  # K600 ZS_split1-3
    Eval(13978, 160),
    Eval(14136, 160),
)
# Per base-to-novel dataset: (K-shot base training videos, base classes, base_val, novel classes, novel_val).
BASE_TO_NOVEL = {
    "k400": (3200, 200, 9944, 200, 9933),
    "hmdb51": (416, 26, 780, 25, 750),
    "ucf101": (816, 51, 2088, 50, 1695),
    "ssv2": (1392, 87, 17562, 87, 7215),
}
# Per few-shot dataset: (classes, evaluation videos: val1, or the full SSv2 validation set).
FEW_SHOT = {"hmdb51": (51, 1530), "ucf101": (101, 3783), "ssv2": (174, 24777)}


def zero_shot() -> list[Job]:
    """K400 training (32 frames, 10 epochs) of the trained methods; every model evaluated on 9 lists."""
    jobs = [Job("zero-shot", "k400", "vanilla", 32, 1, 0, 0, 400, ZERO_SHOT_EVALS)]
    for method in ("image", "text", "vifi", "evl"):
        jobs.append(Job("zero-shot", "k400", method, 32, 1, K400_TRAIN, 10, 400, ZERO_SHOT_EVALS))
    return jobs


def base_to_novel() -> list[Job]:
    """3 K-shot base subsets x 11 epochs at 32 frames; prompting has no K400 run (its bridge saw K400)."""
    jobs = []
    for dataset, (train, base, base_val, novel, novel_val) in BASE_TO_NOVEL.items():
        evals = (Eval(base_val, base), Eval(novel_val, novel))
        jobs.append(Job("base-to-novel", dataset, "vanilla", 32, 1, 0, 0, base, evals))
        methods = ("image", "text", "vifi", "evl") + (("prompt",) if dataset != "k400" else ())
        jobs += [Job("base-to-novel", dataset, m, 32, SEEDS, train, 11, base, evals) for m in methods]
    return jobs


def few_shot() -> list[Job]:
    """K in {2, 4, 8, 16} shots per class, 50 epochs at 32 frames, one run per K."""
    jobs = []
    for dataset, (classes, videos) in FEW_SHOT.items():
        evals = (Eval(videos, classes),)
        for method in ("vifi", "prompt", "evl"):
            jobs += [
                Job(
                    "few-shot",
                    dataset,
                    method,
                    32,
                    1,
                    k * classes,
                    50,
                    classes,
                    evals,
                    tuple(FEW_SHOT_PROMPTS.items()),
                )
                for k in (2, 4, 8, 16)
            ]
    return jobs


def fully_supervised() -> list[Job]:
    """K400, 30 epochs at 16 frames, evaluated with 4 clips x 3 crops."""
    evals = (Eval(K400_VAL, 400, views=12),)
    return [
        Job("fully-supervised", "k400", m, 16, 1, K400_TRAIN, 30, 400, evals)
        for m in ("image", "text", "vifi", "evl")
    ]


def train_flops(job: Job, cost: ViewCost) -> float:
    """One run's training FLOPs: clips, plus the class prompts per mini-batch (or once when frozen)."""
    clips = job.train_videos * job.epochs
    if not clips:
        return 0.0
    if cost.text_trains:
        text = clips / MINI_BATCH * job.train_classes * cost.text_train
    else:
        text = job.train_classes * cost.text_forward
    return clips * cost.train + text


def eval_flops(job: Job, cost: ViewCost) -> float:
    """One run's evaluation FLOPs: every view of every video, plus each class list once."""
    return sum(e.videos * e.views * cost.forward + e.classes * cost.text_forward for e in job.evals)


def hours(flops: float) -> float:
    return flops / SUSTAINED / 3600


def grid_table(jobs: list[Job], costs: dict[ModelSpec, ViewCost]) -> pd.DataFrame:
    """One row per protocol, dataset and method, summed over its runs (seeds, shot counts)."""
    rows = []
    for job in jobs:
        cost = costs[job.spec]
        train, evaluate = job.runs * train_flops(job, cost), job.runs * eval_flops(job, cost)
        rows.append(
            {
                "protocol": job.protocol,
                "dataset": job.dataset,
                "method": job.method,
                "frames": job.frames,
                "runs": job.runs,
                "train clips": job.runs * job.train_videos * job.epochs,
                "train PFLOP": train / PETA,
                "eval views": job.runs * sum(e.videos * e.views for e in job.evals),
                "eval PFLOP": evaluate / PETA,
                "GPU-hours": hours(train + evaluate),
            }
        )
    keys = ["protocol", "dataset", "method", "frames"]
    return pd.DataFrame(rows).groupby(keys, sort=False).sum().reset_index()


def per_view_table(costs: dict[ModelSpec, ViewCost]) -> pd.DataFrame:
    rows = [
        {
            "method": spec.method,
            "frames": spec.num_frames,
            "prompts (n_v/n_t, depth)": (
                "{n_ctx_vision}/{n_ctx_text}, {depth_vision}".format(**dict(spec.options))
                if spec.method == "prompt"
                else ""
            ),
            "GFLOPs/view": cost.forward / GIGA,
            "EVL decoder": cost.decoder / GIGA,
            "train GFLOPs/clip": cost.train / GIGA,
            "train/forward": cost.train / cost.forward,
            "text GFLOPs/class": cost.text_forward / GIGA,
            "text train/class": cost.text_train / GIGA,
        }
        for spec, cost in sorted(costs.items(), key=lambda kv: (kv[0].method, kv[0].num_frames))
    ]
    return pd.DataFrame(rows)


def print_checks(costs: dict[ModelSpec, ViewCost]) -> None:
    """Measured per-view compute and training time next to the published figures, as ratios."""
    vifi16 = costs[ModelSpec("vifi", ARCH, 16)]
    evl8 = costs[ModelSpec("evl", ARCH, 8, {"evl_layers": EVL_LAYERS})]
    print("\nPublished per-view compute (their 'GFLOPs' count multiply-adds = our FLOPs / 2):")
    for name, cost, published in (
        ("ViFi-CLIP B/16 16x224", vifi16, VIFI_16F_PUBLISHED_GFLOPS),
        ("EVL B/16 8x224 (444/3 views, unverified)", evl8, EVL_8F_PUBLISHED_GFLOPS),
    ):
        gflops = cost.forward / GIGA
        print(
            f"  {name}: measured {gflops:.1f} GFLOPs = {gflops / 2:.1f} GMACs; published {published:.1f}; "
            f"ratio measured MACs / published {gflops / 2 / published:.3f}"
        )
    clips = K400_TRAIN * 30
    video = clips * vifi16.train
    text = clips / MINI_BATCH * 400 * vifi16.text_train
    claim = VIFI_K400_30EP_A100_HOURS
    print("\nViFi-CLIP, 30 K400 epochs at 16 frames (training only):")
    print(
        f"  video only: {video / PETA:,.0f} PFLOP -> {hours(video):,.0f} A100-hours "
        f"({hours(video) / claim:.2f} x claim)"
    )
    print(
        f"  + 400 class prompts per mini-batch of {MINI_BATCH}: {(video + text) / PETA:,.0f} PFLOP -> "
        f"{hours(video + text):,.0f} A100-hours ({hours(video + text) / claim:.2f} x claim)"
    )
    implied = (video + text) / (claim * 3600 * PEAK_A100_BF16)
    print(f"  maintainers: about 1 day on 8 A100 = {claim} A100-hours, which implies MFU {implied:.1%}")
    evl = EVL_RECIPE_CLIPS * evl8.train
    per_gpu = evl / (EVL_8F_V100_HOURS * 3600)
    print(f"\nEVL B/16 8 frames, released recipe ({EVL_RECIPE_CLIPS:,} clips): {evl / PETA:,.0f} PFLOP")
    print(
        f"  README: {EVL_8F_V100_HOURS} V100 GPU-hours, which implies {per_gpu / 1e12:.1f} TFLOP/s per V100 "
        f"(MFU {per_gpu / PEAK_V100_FP16:.1%}); at the A100 assumption {hours(evl):,.0f} A100-hours"
    )


def print_text_sharding(costs: dict[ModelSpec, ViewCost], classes: int = 400) -> None:
    """Text FLOPs per GPU per mini-batch when DDP ranks share the class prompts (`ClassifyStep` under torchrun):
    each encodes ceil(K / world) prompts, forward and backward, instead of all K."""
    print(f"\nText tower sharded across ranks, ViFi-CLIP, {classes} class prompts, {MINI_BATCH} clips per GPU:")
    for frames in (16, 32):
        cost = costs[ModelSpec("vifi", ARCH, frames)]
        video = MINI_BATCH * cost.train
        full = classes * cost.text_train
        for world in (4, 8):
            shard = -(-classes // world) * cost.text_train
            print(
                f"  {frames} frames, world {world}: text {full / 1e12:.2f} -> {shard / 1e12:.2f} TFLOP per GPU "
                f"per step ({full / shard:.0f}x less); step {(video + full) / 1e12:.2f} -> "
                f"{(video + shard) / 1e12:.2f} TFLOP ({(video + full) / (video + shard):.2f}x less)"
            )


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # takes no options but --help
    jobs = zero_shot() + base_to_novel() + few_shot() + fully_supervised()
    specs = {job.spec for job in jobs} | {ModelSpec("evl", ARCH, 8, {"evl_layers": EVL_LAYERS})}
    costs = {spec: measure(spec) for spec in sorted(specs, key=repr)}
    print(
        f"Assumed sustained throughput: A100 bf16 peak {PEAK_A100_BF16 / 1e12:.0f} TFLOP/s x MFU {MFU:.0%} = "
        f"{SUSTAINED / 1e12:.1f} TFLOP/s per GPU; FLOPs = 2 per multiply-add"
    )
    with pd.option_context("display.width", 200, "display.float_format", "{:,.1f}".format):
        print(f"\nMeasured per view / clip / class prompt ({ARCH}, 224 px):")
        two_decimals = dict.fromkeys(
            ("train/forward", "text GFLOPs/class", "text train/class"), "{:.2f}".format
        )
        print(per_view_table(costs).to_string(index=False, formatters=two_decimals))
        table = grid_table(jobs, costs)
        print("\nPaper-mode grid (runs summed over seeds and shot counts):")
        print(table.to_string(index=False))
        totals = table.groupby("protocol", sort=False)[["runs", "train PFLOP", "eval PFLOP", "GPU-hours"]].sum()
        totals.loc["whole grid"] = totals.sum()
        print("\nPer protocol:")
        print(totals.to_string())
    print_checks(costs)
    print_text_sharding(costs)


if __name__ == "__main__":
    main()
