# Targets and helpers shared by the rule files. No ML logic lives here.
import json
from argparse import Namespace
import os
import re
import shlex
import sys

import yaml

from vifi import kernels
from vifi.catalog import methods as method_catalog
from vifi.catalog import datasets as dataset_catalog
from vifi.catalog.config import check_config
from vifi.codedeps import rule_code
from vifi.data.acquire.registry import load_registry
from vifi.data.lists.lists import dataset_format
from vifi.data.lists.protocols import fewshot_list


envvars:
    "PATH",


# Jobs run `python -m vifi ...` with the interpreter that runs Snakemake (e.g. .venv/bin), even when the
# virtualenv is not activated.
os.environ["PATH"] = os.pathsep.join(
    [os.path.dirname(sys.executable), os.environ.get("PATH", "")]
)
SRC = "src/vifi"
# The schema checks shapes; which methods and datasets exist is the catalog's to say.
check_config(config)
PROTOCOLS = config["protocols"]
ZS = config["zeroshot"]
SHARDS = range(config["extract"]["shards"])
OFFICIAL = config["official"]


def protocol_datasets(protocol):
    """The datasets one protocol reads (zero-shot: its source and targets)."""
    if protocol == "zeroshot":
        return [ZS["source"], *ZS["targets"]]
    if protocol == "fullsup":
        return list(config["fullsup"]["grid"])
    return config[protocol]["datasets"]


DATASETS = list(dict.fromkeys(d for p in PROTOCOLS for d in protocol_datasets(p)))


wildcard_constraints:
    dataset="|".join(DATASETS),
    method="|".join(method_catalog.methods()),
    run=r"seed\d+|\d+shot-seed\d+|main|rng\d+",
    shard=r"\d+",
    protocol="zeroshot|base2novel|fewshot|fullsup",


def code(*entries):
    """Every package file a rule's command runs or reads, as inputs, so that editing one re-runs its jobs.

    `entries` are what the shell command runs: `vifi` stages (`train`) and modules run with `python -m`
    (`vifi.stages.gpu_pool`). The files are derived, never listed by hand (vifi.codedeps): the import closure of the
    entries and the packaged data files its modules read. Templates are left to the rules that render them,
    which declare each job's own, so that editing one table's template re-renders that table only.
    """
    return rule_code(entries, SRC, declared=("report/templates",))


def flags(section, skip=()):
    """CLI flags from a params.yaml section, so every knob reaches the stage and Snakemake's params trigger.

    Sorted by key: the same values in another order (an override file written by hand or by a tool) must give
    the same command, or Snakemake's params trigger would redo every job.
    """
    parts = []
    for key, value in sorted(section.items()):
        if key in skip or value is None:
            continue
        name = key.replace("_", "-")
        if isinstance(
            value, bool
        ):  # argparse.BooleanOptionalAction: --name / --no-name
            parts.append(f"--{name}" if value else f"--no-{name}")
            continue
        values = value if isinstance(value, list) else [value]
        parts.append(f"--{name} {shell_words(values)}")
    return " ".join(parts)


def shell_words(values):
    """Each value as exactly one shell word, space-separated: a path with a space or `;` from params (or
    `dvc exp run -S`) must reach its stage as one argument, never split or run as a command.
    """
    return " ".join(shlex.quote(str(v)) for v in values)


# Keys that set how fast a job runs, never what it computes: they reach the stage through `threads` and
# `resources`, not `params`, so giving the data loaders more workers reruns nothing.
SPEED_KEYS = ("workers", "resume_interval", "device_augment")


def loader_workers(wildcards, threads):
    """Data-loader processes beside a job's main one: what its threads leave, once `--cores` has capped them."""
    return threads - 1


def device_augment_flag(wildcards):
    """`vifi train`'s `--device-augment` where params.yaml asks for it and the run's recipe trains with the
    paper's augmentation, the only one it applies to (EVL's recipe brings its own), else `--no-device-augment`.
    """
    augment = recipe(wildcards.protocol, wildcards.method)["augment"]
    on = config["train"]["device_augment"] and augment == "vifi"
    return "--device-augment" if on else "--no-device-augment"


def recipe(protocol, method):
    """`train`, then the protocol's `train`, the method's `recipes`, the protocol's `recipes` for the method.

    The paper's recipes differ by protocol (frames, epochs, LR) and by method within a protocol (prompting's
    LR, the fully supervised image/text-FT batch), and EVL brings its own paper's recipe.
    """
    section = config[protocol]
    return {
        **config["train"],
        **section.get("train", {}),
        **config["recipes"].get(method, {}),
        **section.get("recipes", {}).get(method, {}),
    }


def model_flags(protocol, method):
    """Architecture flags beyond --arch/--method/--num-frames: the method's catalog `options` (prompt counts and
    depths, EVL's decoder depth), each from its params key, where a protocol's own section comes first.
    """
    values = {}
    for name, key in method_catalog.method(method).options.items():
        section, field = key.split(".")
        values[name] = {**config[section], **config[protocol].get(section, {})}[field]
    return flags(values)


def bridge_run(index):
    """The run name of the zero-shot source's ViFi-CLIP that is bridge `index`: `main` (the zero-shot model
    itself, at `train.rng_seed`), then `rng<seed>` for the next RNG seeds."""
    if index == 0:
        return "main"
    return f"rng{recipe('zeroshot', 'vifi')['rng_seed'] + index}"


def bridge_weights(run):
    """Stage-1 ViFi-CLIP of one prompting run: a given checkpoint, or one of the `bridge.runs` zero-shot
    ViFi-CLIPs trained here, the i-th for the i-th training subset or K-shot draw.

    With one bridge every run of prompting starts from the same model, and no interval over its runs can say
    how much another bridge would move it; one per subset or draw puts the bridge inside that resampling.
    """
    if config["bridge"]["weights"]:
        return config["bridge"]["weights"]
    index = run_index(run) % config["bridge"]["runs"]
    return f"results/runs/zeroshot/{ZS['source']}/vifi/{bridge_run(index)}/model.pt"


def run_index(run):
    """Position of a run's training subset (`seed<k>`) or K-shot draw (`<K>shot-seed<s>`) in its params list."""
    if run.startswith("seed"):
        return config["base2novel"]["seeds"].index(int(run.removeprefix("seed")))
    if "shot-seed" in run:
        return config["fewshot"]["seeds"].index(int(run.split("shot-seed")[1]))
    return 0


def bridged(method):
    """Whether a method's training starts from the bridge (its catalog entry's `starts_from`)."""
    return method_catalog.method(method).starts_from == "bridge"


def init_weights(wildcards):
    """Where a method's training starts: the bridge, or the pretrained CLIP."""
    if bridged(wildcards.method):
        return bridge_weights(wildcards.run)
    return pretrained_weights()


def run_recipe(wildcards):
    """A run's recipe; a further bridge (`rng<seed>`) trains with its own RNG seed."""
    own = recipe(wildcards.protocol, wildcards.method)
    if wildcards.run.startswith("rng"):
        return own | {"rng_seed": int(wildcards.run.removeprefix("rng"))}
    return own


def frame_shards(wildcards):
    n = config["extract"]["shards"]
    return [f"data/frames/{wildcards.dataset}/shard-{i}-of-{n}.bin" for i in SHARDS]


def exclusion_labels(wildcards):
    """The raw dataset whose class names a synthetic dataset must avoid (the zero-shot role), if any."""
    other = config["synthetic"]["datasets"][wildcards.dataset].get("exclude_from")
    return f"data/raw/{other}" if other else []


def official_args(wildcards, input):
    """The released lists of a dataset, relabelled by the class each video names under `audit.policy: by_name`."""
    args = f"--official {shlex.quote(OFFICIAL)} --dataset {wildcards.dataset}"
    if config["audit"]["policy"] == "by_name":
        names = shlex.quote(f"{input.lists}/videos.csv")
        args += (
            f" --relabel-by-name {names} --format {dataset_format(wildcards.dataset)}"
        )
    return args


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
    if OFFICIAL:
        return f"{official_args(wildcards, input)} {resolve}"
    notes = input.lists
    return (
        f"--labels {notes}/labels.csv --train-list {notes}/train{b2n['split']}.txt"
        f" --val-list {notes}/val{b2n['split']}.txt --shots {b2n['shots']} {resolve}"
    )


def protocol_split_args(protocol):
    """`vifi protocols` arguments: the released lists (paper mode) or the generator on the raw annotations.

    Zero-shot targets with k-fold splits (UCF/HMDB style) test on each fold with all classes; a target with one
    test list (the Kinetics-600 role) gets `classes_per_split` classes drawn per split. Fully supervised lists
    come from the raw annotations' split 1, or from `fullsup.lists` (paper mode: e.g. the Kinetics-400 train
    list that `python -m vifi kinetics` builds).
    """

    def args(wildcards, input):
        resolve = (
            f"--videos {input.raw}/videos --quarantine {input.quarantine}"
            f" --max-missing-fraction {config['data']['max_missing_fraction']}"
        )
        notes = input.lists
        given = config["fullsup"].get("lists", {}).get(wildcards.dataset)
        if protocol == "fullsup" and given:
            source = (
                f"--labels {shlex.quote(given['labels'])} --train-list {shlex.quote(given['train'])}"
                f" --val-list {shlex.quote(given['val'])}"
            )
        elif OFFICIAL and protocol != "fullsup":
            source = official_args(wildcards, input)
        elif protocol == "fullsup":
            source = f"--labels {notes}/labels.csv --train-list {notes}/train1.txt --val-list {notes}/val1.txt"
        elif protocol == "fewshot":
            source = (
                f"--labels {notes}/labels.csv --train-list {notes}/train1.txt"
                f" --val-list {notes}/val1.txt --seed {' '.join(map(str, config['fewshot']['seeds']))}"
            )
        elif folds(wildcards.dataset) >= max(ZS["splits"]):
            vals = " ".join(f"{notes}/val{s}.txt" for s in ZS["splits"])
            source = f"--labels {notes}/labels.csv --val-lists {vals}"
        else:
            source = (
                f"--labels {notes}/labels.csv --val-list {notes}/val1.txt"
                f" --classes-per-split {ZS['classes_per_split']} --seed {config['fewshot']['seeds'][0]}"
            )
        shots = " ".join(map(str, config["fewshot"]["shots"]))
        splits = " ".join(map(str, ZS["splits"]))
        extra = {"fewshot": f"--shots {shots}", "zeroshot": f"--splits {splits}"}
        return f"{source} {extra.get(protocol, '')} {resolve}"

    return args


def folds(dataset):
    """How many train/test splits a dataset has: as configured for a synthetic one, as published otherwise."""
    spec = config["synthetic"]["datasets"].get(dataset)
    if spec and data_source(dataset) == "synthetic":
        return spec["splits"]
    return dataset_catalog.dataset(dataset).folds


def pooled_target(dataset):
    """A zero-shot target with one test list (the Kinetics-600 role): classes the source lacks, every video."""
    return dataset in ZS["targets"] and folds(dataset) < max(ZS["splits"])


def label_file(dataset):
    """The label CSV that fixes a dataset's ids: the generator's for a synthetic one, the paper's otherwise."""
    if data_source(dataset) == "synthetic":
        return f"data/raw/{dataset}/labels.csv"
    return f"{SRC}/data/lists/labels/{dataset_catalog.dataset(dataset).labels}"


def list_labels(wildcards):
    return label_file(wildcards.dataset)


def list_labels_input(wildcards):
    """The label CSV as an input where it is a file of its own (a synthetic one is inside data/raw/<ds>)."""
    return (
        []
        if data_source(wildcards.dataset) == "synthetic"
        else [list_labels(wildcards)]
    )


def list_exclusion_input(wildcards):
    """For a pooled zero-shot target: the source's label CSV, or its raw folder that holds it."""
    if not pooled_target(wildcards.dataset):
        return []
    source = ZS["source"]
    return [
        (
            f"data/raw/{source}"
            if data_source(source) == "synthetic"
            else label_file(source)
        )
    ]


def list_extra_args(wildcards):
    if not pooled_target(wildcards.dataset):
        return ""
    return f"--pool --exclude-labels {shlex.quote(label_file(ZS['source']))}"


def protocol_splits(protocol):
    """One output file of each split rule a protocol needs, per dataset (for `data_all`)."""
    if protocol == "base2novel":
        return [
            f"data/splits/{d}/base2novel/base_labels.csv"
            for d in protocol_datasets(protocol)
        ]
    if protocol == "fewshot":
        return [
            f"data/splits/{d}/fewshot/labels.csv" for d in protocol_datasets(protocol)
        ]
    if protocol == "zeroshot":
        return [f"data/splits/{ZS['source']}/full/train.txt"] + [
            f"data/splits/{t}/zeroshot/split{ZS['splits'][0]}_val.txt"
            for t in ZS["targets"]
        ]
    return [f"data/splits/{d}/full/train.txt" for d in protocol_datasets(protocol)]


def protocol_audits(protocol):
    """The release audit of every split folder a protocol reads, made with the lists (DVC's prepare stage)."""
    if protocol == "zeroshot":
        return [f"data/splits/{ZS['source']}/full/audit.json"] + [
            f"data/splits/{t}/zeroshot/audit.json" for t in ZS["targets"]
        ]
    folder = "full" if protocol == "fullsup" else protocol
    return [f"data/splits/{d}/{folder}/audit.json" for d in protocol_datasets(protocol)]


def pretrained_weights():
    """The initial CLIP: a local checkpoint in paper mode, the image-pretrained demo CLIP otherwise."""
    return (
        config["model"]["weights"]
        or f"checkpoints/pretrained/{config['model']['arch']}.pt"
    )


# ---- Raw data: where each dataset comes from (synthetic stand-in or the real release) ----------------------
# `data.source` picks, per dataset, which of the rules `synthesize` and `download` writes data/raw/<dataset>.
# Both leave the videos under data/raw/<dataset>/videos/, the root that frame-store keys and split lists are
# relative to, so every later step is the same in both modes.
REGISTRY = config["data"]["registry"] or f"{SRC}/data/acquire/registry.yaml"
load_registry(REGISTRY)  # validated first: an error names the file, entry and key
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
