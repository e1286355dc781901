# Evaluation: base classes against base names, novel classes against novel names (METHODS.md §5).


rule evaluate_base2novel:
    input:
        frames=frame_shards,
        weights=eval_weights,
        splits=multiext(
            "data/splits/{dataset}/base2novel/",
            "base_val.txt",
            "base_labels.csv",
            "novel_val.txt",
            "novel_labels.csv",
        ),
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
            "metrics",
            "provenance",
        ),
    output:
        "results/runs/{protocol}/{dataset}/{method}/seed{seed}/metrics.json",
    log:
        "logs/evaluate/{protocol}/{dataset}/{method}/seed{seed}.log",
    wildcard_constraints:
        protocol="base2novel",
    conda:
        "../envs/vifi.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        arch=config["model"]["arch"],
        model=lambda wc: model_flags(wc.method),
        views=lambda wc: eval_flags(wc.method),
        evaluate=flags(config["evaluate"]),
    shell:
        "python -m vifi evaluate --frames {input.frames} --weights {input.weights} --arch {params.arch}"
        " --method {wildcards.method} {params.model} --eval base {input.splits[0]} {input.splits[1]}"
        " --eval novel {input.splits[2]} {input.splits[3]} {params.views}"
        " {params.evaluate} --threads {threads} --protocol {wildcards.protocol}"
        " --dataset {wildcards.dataset} --seed {wildcards.seed} --out {output} > {log} 2>&1"


rule runs_all:
    input:
        run_metrics("base2novel"),
