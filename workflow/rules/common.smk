# Targets and helpers shared by the rule files. No ML logic lives here.
import os
import sys


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
        values = value if isinstance(value, list) else [value]
        parts.append(f"--{key.replace('_', '-')} " + " ".join(str(v) for v in values))
    return " ".join(parts)


def frame_shards(wildcards):
    n = config["extract"]["shards"]
    return [f"data/frames/{wildcards.dataset}/shard-{i}-of-{n}.bin" for i in SHARDS]


def exclusion_labels(wildcards):
    """The raw dataset whose class names a synthetic dataset must avoid (the zero-shot role), if any."""
    other = config["synthetic"]["datasets"][wildcards.dataset].get("exclude_from")
    return f"data/raw/{other}" if other else []


def split_source(wildcards):
    """Generated splits read the raw dataset's annotations; official ones come from the release folder."""
    return [] if config["base2novel"]["official"] else f"data/raw/{wildcards.dataset}"


def split_args(wildcards, input):
    """CLI arguments selecting the official base-to-novel files or the protocol generator."""
    b2n = config["base2novel"]
    if b2n["official"]:
        return f"--official {b2n['official']} --dataset {wildcards.dataset}"
    notes = f"{input.raw}/annotations"
    return (
        f"--labels {notes}/labels.csv --train-list {notes}/train{b2n['split']}.txt"
        f" --val-list {notes}/val{b2n['split']}.txt --shots {b2n['shots']}"
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
    return expand(
        "results/runs/{protocol}/{dataset}/{method}/seed{seed}/metrics.json",
        protocol=protocol,
        dataset=DATASETS,
        method=METHODS,
        seed=SEEDS,
    )
