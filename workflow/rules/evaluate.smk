# Evaluation: each set against its own class names (METHODS.md §5); sets per protocol in grid.smk.


rule evaluate:
    input:
        frames="data/frames/{dataset}/manifest.json",
        weights=eval_weights,
        sets=eval_files,
        code=code(
            "engine/evaluate",
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
            "data/shards",
            "metrics",
            "provenance",
        ),
    output:
        "results/runs/{protocol}/{dataset}/{method}/{run}/metrics.json",
    log:
        "logs/evaluate/{protocol}/{dataset}/{method}/{run}.log",
    benchmark:
        "logs/benchmarks/evaluate/{protocol}/{dataset}/{method}/{run}.tsv"
    conda:
        "../envs/vifi.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        arch=config["model"]["arch"],
        model=lambda wc: model_flags(wc.protocol, wc.method),
        sets=eval_args,
        views=eval_flags,
    shell:
        "python -m vifi.gpu_pool -n {resources.gpu} --torchrun --"
        " python -m vifi evaluate --frames {input.frames} --weights {input.weights} --arch {params.arch}"
        " --method {wildcards.method} {params.model} {params.sets} {params.views} --threads {threads}"
        " --protocol {wildcards.protocol} --dataset {wildcards.dataset} --run-name {wildcards.run}"
        " --out {output} > {log} 2>&1"


rule runs_all:
    input:
        [f for protocol in PROTOCOLS for f in run_metrics(protocol)],
