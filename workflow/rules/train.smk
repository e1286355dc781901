# Fine-tuning: one job per run directory (protocol, dataset, method, run); see grid.smk for the grid.


rule train:
    input:
        unpack(train_inputs),
        frames="data/frames/{dataset}/manifest.json",
        weights=init_weights,
        code=code("vifi.stages.gpu_pool", "train"),
    output:
        weights="results/runs/{protocol}/{dataset}/{method}/{run}/model.pt",
        curve="results/runs/{protocol}/{dataset}/{method}/{run}/train_log.csv",
    log:
        "logs/train/{protocol}/{dataset}/{method}/{run}.log",
    benchmark:
        "logs/benchmarks/train/{protocol}/{dataset}/{method}/{run}.tsv"
    wildcard_constraints:
        method=one_of(method_catalog.trained_methods()),
    conda:
        "../envs/vifi.yaml"
    threads: 1 + config["train"]["workers"]
    resources:
        gpu=1,
        workers=loader_workers,
        resume_interval=config["train"]["resume_interval"],
        device_augment=device_augment_flag,
    params:
        model=lambda wc: model_flags(wc.protocol, wc.method),
        recipe=lambda wc: flags(run_recipe(wc), skip=SPEED_KEYS),
        arch=config["model"]["arch"],
    shell:
        "python -m vifi.stages.gpu_pool -n {resources.gpu} --torchrun --"
        " python -m vifi train --frames {input.frames:q} --train-list {input.train_list:q}"
        " --labels {input.labels:q} --weights {input.weights:q} --arch {params.arch:q}"
        " --method {wildcards.method} {params.model} {params.recipe}"
        " --threads {threads} --workers {resources.workers} --resume-interval {resources.resume_interval}"
        " {resources.device_augment} --out {output.weights:q} --log-csv {output.curve:q} > {log:q} 2>&1"


rule train_all:
    input:
        trained_models(),
