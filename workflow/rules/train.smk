# Fine-tuning: one job per (protocol, dataset, method, seed); seed = the base-to-novel training subset.
# `train_bridge` is stage 1 of bridge-and-prompt: ViFi-CLIP on every class of the bridge dataset.

TRAIN_CODE = code(
    "engine/train",
    "engine/schedule",
    "engine/checkpoint",
    "engine/devices",
    "engine/distributed",
    "models/factory",
    "models/vificlip",
    "models/prompts",
    "models/evl",
    "models/pretrained",
    "data/dataset",
    "data/transforms",
    "data/sampling",
    "data/framestore",
)
TRAIN_SHELL = (
    "python -m vifi train --frames {input.frames} --train-list {input.train_list}"
    " --labels {input.labels} --weights {input.weights} --arch {params.arch}"
    " --method {params.method} {params.model} {params.recipe} --threads {threads}"
    " --out {output.weights} --log-csv {output.curve} > {log} 2>&1"
)


rule train_base2novel:
    input:
        frames=frame_shards,
        train_list="data/splits/{dataset}/base2novel/fs_base_s{seed}_train.txt",
        labels="data/splits/{dataset}/base2novel/base_labels.csv",
        weights=init_weights,
        code=TRAIN_CODE,
    output:
        weights="results/runs/{protocol}/{dataset}/{method}/seed{seed}/model.pt",
        curve="results/runs/{protocol}/{dataset}/{method}/seed{seed}/train_log.csv",
    log:
        "logs/train/{protocol}/{dataset}/{method}/seed{seed}.log",
    wildcard_constraints:
        method="|".join(TRAINED_METHODS) or "none",
        protocol="base2novel",
    conda:
        "../envs/vifi.yaml"
    threads: 1 + config["train"]["workers"]
    resources:
        gpu=1,
    params:
        method=lambda wc: wc.method,
        model=lambda wc: model_flags(wc.method),
        recipe=lambda wc: flags(recipe(wc.method)),
        arch=config["model"]["arch"],
    shell:
        TRAIN_SHELL


rule train_bridge:
    input:
        frames=frame_shards,
        train_list=lambda wc: config["bridge"]["train_list"]
        or f"data/raw/{wc.dataset}/annotations/train1.txt",
        labels=lambda wc: config["bridge"]["labels"]
        or f"data/raw/{wc.dataset}/annotations/labels.csv",
        weights=pretrained_weights(),
        code=TRAIN_CODE,
    output:
        weights="checkpoints/bridge/{dataset}/model.pt",
        curve="checkpoints/bridge/{dataset}/train_log.csv",
    log:
        "logs/train/bridge/{dataset}.log",
    conda:
        "../envs/vifi.yaml"
    threads: 1 + config["train"]["workers"]
    resources:
        gpu=1,
    params:
        method="vifi",
        model="",
        recipe=flags(recipe("bridge")),
        arch=config["model"]["arch"],
    shell:
        TRAIN_SHELL


rule train_all:
    input:
        [
            f.replace("metrics.json", "model.pt")
            for f in run_metrics("base2novel")
            if "/vanilla/" not in f
        ],
