# Fine-tuning: one job per (protocol, dataset, method, seed); seed = the base-to-novel training subset.


rule train_base2novel:
    input:
        frames=frame_shards,
        train_list="data/splits/{dataset}/base2novel/fs_base_s{seed}_train.txt",
        labels="data/splits/{dataset}/base2novel/base_labels.csv",
        weights=pretrained_weights(),
        code=code(
            "engine/train",
            "engine/schedule",
            "engine/checkpoint",
            "engine/devices",
            "models/vificlip",
            "models/pretrained",
            "data/dataset",
            "data/transforms",
            "data/sampling",
            "data/framestore",
        ),
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
        recipe=flags(config["train"]),
        arch=config["model"]["arch"],
    shell:
        "python -m vifi train --frames {input.frames} --train-list {input.train_list}"
        " --labels {input.labels} --weights {input.weights} --arch {params.arch}"
        " --method {wildcards.method} {params.recipe} --threads {threads}"
        " --out {output.weights} --log-csv {output.curve} > {log} 2>&1"


rule train_all:
    input:
        expand(
            "results/runs/{protocol}/{dataset}/{method}/seed{seed}/model.pt",
            protocol="base2novel",
            dataset=DATASETS,
            method=TRAINED_METHODS,
            seed=SEEDS,
        ),
