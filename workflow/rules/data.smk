# Raw data (synthetic in demo mode), frame extraction in shards, and split generation.


rule synthesize:
    input:
        exclude=exclusion_labels,
        code=code("data/synthetic", "data/world", "data/annotations"),
    output:
        directory("data/raw/{dataset}"),
    log:
        "logs/synthesize/{dataset}.log",
    wildcard_constraints:
        dataset="|".join(config["synthetic"]["datasets"]),
    conda:
        "../envs/vifi.yaml"
    params:
        spec=lambda wc: flags(
            config["synthetic"]["datasets"][wc.dataset], skip=("exclude_from",)
        ),
        world=flags(config["synthetic"], skip=("datasets", "stills")),
        exclude=lambda wc, input: (
            f"--exclude-labels {input.exclude}/annotations/labels.csv"
            if input.exclude
            else ""
        ),
    shell:
        "python -m vifi synthesize --name {wildcards.dataset} {params.spec} {params.world} {params.exclude}"
        " --out {output} > {log} 2>&1"


rule stills:
    input:
        code=code("data/synthetic", "data/world"),
    output:
        "data/raw/stills.npz",
    log:
        "logs/stills.log",
    conda:
        "../envs/vifi.yaml"
    params:
        n_stills=config["synthetic"]["stills"],
        world=flags(config["synthetic"], skip=("datasets", "stills", "frames", "fps")),
    shell:
        "python -m vifi stills --count {params.n_stills} {params.world} --out {output} > {log} 2>&1"


rule extract:
    input:
        raw="data/raw/{dataset}",
        code=code("data/framestore"),
    output:
        "data/frames/{dataset}/shard-{shard}-of-{n}.bin",
    log:
        "logs/extract/{dataset}-{shard}-of-{n}.log",
    conda:
        "../envs/vifi.yaml"
    params:
        opts=flags(config["extract"], skip=("shards",)),
    shell:
        "python -m vifi extract --videos {input.raw}/videos --shard {wildcards.shard}"
        " --num-shards {wildcards.n} {params.opts} --out {output} > {log} 2>&1"


rule splits_base2novel:
    input:
        raw=split_source,
        code=code("data/splits", "data/annotations"),
    output:
        labels=expand(
            "data/splits/{{dataset}}/base2novel/{part}_labels.csv",
            part=("base", "novel"),
        ),
        val=expand(
            "data/splits/{{dataset}}/base2novel/{part}_val.txt", part=("base", "novel")
        ),
        train=expand(
            "data/splits/{{dataset}}/base2novel/fs_base_s{seed}_train.txt", seed=SEEDS
        ),
    log:
        "logs/splits/{dataset}-base2novel.log",
    conda:
        "../envs/vifi.yaml"
    params:
        source=split_args,
        seeds=" ".join(map(str, SEEDS)),
        out_dir=lambda wc, output: os.path.dirname(output.labels[0]),
    shell:
        "python -m vifi splits {params.source} --seeds {params.seeds} --out-dir {params.out_dir} > {log} 2>&1"


rule data_all:
    input:
        expand(
            "data/frames/{dataset}/shard-{shard}-of-{n}.bin",
            dataset=DATASETS,
            shard=SHARDS,
            n=config["extract"]["shards"],
        ),
        expand("data/splits/{dataset}/base2novel/base_labels.csv", dataset=DATASETS),
