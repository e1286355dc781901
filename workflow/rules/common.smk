# Targets and helpers shared by the rule files. No ML logic lives here.
import json
import os
import re
import sys

import yaml


envvars:
    "PATH",


# Jobs run `python -m vifi ...` with the interpreter that runs Snakemake (e.g. .venv/bin), even when the
# virtualenv is not activated.
os.environ["PATH"] = os.pathsep.join(
    [os.path.dirname(sys.executable), os.environ.get("PATH", "")]
)
SRC = "src/vifi"
DATASETS = config["datasets"]
SEEDS = config["seeds"]
METHODS = config["methods"]
TRAINED_METHODS = [m for m in METHODS if m != "vanilla"]
SHARDS = range(config["extract"]["shards"])


wildcard_constraints:
    dataset="|".join(DATASETS),
    method="|".join(METHODS),
    seed=r"\d+",
    shard=r"\d+",
    protocol="base2novel",


def code(*modules):
    """The src/ modules a rule runs, declared as inputs so that editing them re-runs the rule."""
    return [f"{SRC}/{m}.py" for m in ("__main__", "io", *modules)]


def flags(section, skip=()):
    """CLI flags from a params.yaml section, so every knob reaches the stage and Snakemake's params trigger."""
    parts = []
    for key, value in section.items():
        if key in skip or value is None:
            continue
        name = key.replace("_", "-")
        if isinstance(
            value, bool
        ):  # argparse.BooleanOptionalAction: --name / --no-name
            parts.append(f"--{name}" if value else f"--no-{name}")
            continue
        values = value if isinstance(value, list) else [value]
        parts.append(f"--{name} " + " ".join(str(v) for v in values))
    return " ".join(parts)


def recipe(name):
    """The `train` section with a method's (or the bridge's) overrides from `recipes`."""
    return {**config["train"], **config["recipes"].get(name, {})}


def model_flags(method):
    """Architecture flags a method needs beyond --arch/--method/--num-frames (prompts, EVL decoder depth)."""
    if method == "prompt":
        return flags(config["prompt"])
    if method == "evl":
        return f"--evl-layers {config['evl']['layers']}"
    return ""


def eval_flags(method):
    """How a method's model sees a video at test time: its training recipe's frames, sampling, normalisation."""
    keys = ("num_frames", "normalize", "sampling", "stride")
    return flags({k: v for k, v in recipe(method).items() if k in keys})


def bridge_weights():
    """Stage-1 ViFi-CLIP for prompting: a given checkpoint, or the one the `train_bridge` rule trains."""
    dataset = config["bridge"]["dataset"]
    return config["bridge"]["weights"] or f"checkpoints/bridge/{dataset}/model.pt"


def init_weights(wildcards):
    """Where a method's training starts: the bridge for prompting, the pretrained CLIP otherwise."""
    return bridge_weights() if wildcards.method == "prompt" else pretrained_weights()


def runs_grid(dataset, method):
    """Prompting skips the bridge's own dataset when the bridge was trained here on all of its classes."""
    return not (
        method == "prompt"
        and not config["bridge"]["weights"]
        and dataset == config["bridge"]["dataset"]
    )


def frame_shards(wildcards):
    n = config["extract"]["shards"]
    return [f"data/frames/{wildcards.dataset}/shard-{i}-of-{n}.bin" for i in SHARDS]


def exclusion_labels(wildcards):
    """The raw dataset whose class names a synthetic dataset must avoid (the zero-shot role), if any."""
    other = config["synthetic"]["datasets"][wildcards.dataset].get("exclude_from")
    return f"data/raw/{other}" if other else []


def split_args(wildcards, input):
    """CLI arguments selecting the official base-to-novel files or the protocol generator.

    Either way the lists are resolved onto the raw videos, and lines whose video is missing or quarantined are
    reported (failing above `data.max_missing_fraction`), never dropped silently.
    """
    b2n = config["base2novel"]
    resolve = (
        f"--videos {input.raw}/videos --quarantine {input.quarantine}"
        f" --max-missing-fraction {config['data']['max_missing_fraction']}"
    )
    if b2n["official"]:
        return f"--official {b2n['official']} --dataset {wildcards.dataset} {resolve}"
    notes = f"{input.raw}/annotations"
    return (
        f"--labels {notes}/labels.csv --train-list {notes}/train{b2n['split']}.txt"
        f" --val-list {notes}/val{b2n['split']}.txt --shots {b2n['shots']} {resolve}"
    )


def pretrained_weights():
    """The initial CLIP: a local checkpoint in paper mode, the image-pretrained demo CLIP otherwise."""
    return (
        config["model"]["weights"]
        or f"checkpoints/pretrained/{config['model']['arch']}.pt"
    )


def eval_weights(wildcards):
    """Vanilla CLIP is evaluated as loaded; every other method from its own fine-tuned run."""
    if wildcards.method == "vanilla":
        return pretrained_weights()
    return "results/runs/{protocol}/{dataset}/{method}/seed{seed}/model.pt".format(
        **wildcards
    )


def run_metrics(protocol):
    """Every run's metrics file of one protocol over the configured grid."""
    return [
        f"results/runs/{protocol}/{dataset}/{method}/seed{seed}/metrics.json"
        for dataset in DATASETS
        for method in METHODS
        if runs_grid(dataset, method)
        for seed in SEEDS
    ]


# ---- Raw data: where each dataset comes from (synthetic stand-in or the real release) ----------------------
# `data.source` picks, per dataset, which of the rules `synthesize` and `download` writes data/raw/<dataset>.
# Both leave the videos under data/raw/<dataset>/videos/, the root that frame-store keys and split lists are
# relative to, so every later step is the same in both modes.
REGISTRY = config["data"]["registry"] or f"{SRC}/data/registry.yaml"
with open(REGISTRY, encoding="utf-8") as _fh:
    REGISTRY_ENTRIES = yaml.safe_load(_fh)


def data_source(dataset):
    """`synthetic` or `real`; a dataset that `data.source` does not list is synthetic."""
    return config["data"]["source"].get(dataset, "synthetic")


def one_of(names):
    """A wildcard constraint matching exactly `names`; with none, a pattern that matches nothing."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


SYNTHETIC_DATASETS = [
    d for d in config["synthetic"]["datasets"] if data_source(d) == "synthetic"
]
REAL_DATASETS = [
    d for d, source in config["data"]["source"].items() if source == "real"
]
REGISTRY_WEIGHTS = list(REGISTRY_ENTRIES.get("weights") or {})


def registry_key(dataset):
    """The registry's name for `dataset` (the registry uses the publishers' names, e.g. kinetics400)."""
    return config["data"]["registry_key"].get(dataset, dataset)


def registry_entry(wildcards):
    """A real dataset's registry entry as text. It is a params value rather than the registry file an input,
    so that editing one entry re-runs that dataset's download and nothing else."""
    key = registry_key(wildcards.dataset)
    entries = REGISTRY_ENTRIES.get("datasets") or {}
    if key not in entries:
        raise ValueError(
            f"data.source.{wildcards.dataset} is real, but the registry {REGISTRY} has no dataset {key!r}"
            f" (known: {', '.join(sorted(entries))}); set data.registry_key.{wildcards.dataset}"
        )
    return json.dumps(entries[key], sort_keys=True)


def weights_entry(wildcards):
    """A checkpoint's registry entry as text, for the same reason as `registry_entry`."""
    return json.dumps(REGISTRY_ENTRIES["weights"][wildcards.weights], sort_keys=True)


def download_flags():
    """Registry, hand-placed files and archive cache, as `python -m vifi download` flags."""
    return flags(
        config["data"],
        skip=(
            "source",
            "registry_key",
            "max_quarantined_fraction",
            "max_missing_fraction",
        ),
    )
