# Raw data (synthetic stand-ins or real datasets, per `data.source`), frame extraction in shards, the
# quarantine check on undecodable videos, and split generation.


rule synthesize:
    input:
        exclude=exclusion_labels,
        code=code("synthesize"),
    output:
        directory("data/raw/{dataset}"),
    log:
        "logs/synthesize/{dataset}.log",
    benchmark:
        "logs/benchmarks/synthesize/{dataset}.tsv"
    wildcard_constraints:
        dataset=one_of(SYNTHETIC_DATASETS),
    conda:
        "../envs/vifi.yaml"
    params:
        spec=lambda wc: flags(
            config["synthetic"]["datasets"][wc.dataset], skip=("exclude_from",)
        ),
        world=flags(config["synthetic"], skip=("datasets", "stills")),
        format=lambda wc: dataset_format(wc.dataset),
        exclude=lambda wc, input: (
            f"--exclude-labels {input.exclude}/labels.csv" if input.exclude else ""
        ),
    shell:
        "python -m vifi synthesize --name {wildcards.dataset} --format {params.format} {params.spec}"
        " {params.world} {params.exclude}"
        " --out {output:q} > {log:q} 2>&1"


rule stills:
    input:
        code=code("stills"),
    output:
        "data/raw/stills.npz",
    log:
        "logs/stills.log",
    benchmark:
        "logs/benchmarks/stills.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        n_stills=config["synthetic"]["stills"],
        world=flags(config["synthetic"], skip=("datasets", "stills", "frames", "fps")),
    shell:
        "python -m vifi stills --count {params.n_stills} {params.world} --out {output:q} > {log:q} 2>&1"


# Paper mode's raw data: the registry entry's files, from the archive cache, the hand-placed files or the
# publisher, checksum-verified and extracted. The registry extracts video files under videos/, the same video
# root the synthetic datasets have; a registry that does not is stopped here rather than at training time.
rule download:
    input:
        code=code("download"),
    output:
        directory("data/raw/{dataset}"),
    log:
        "logs/download/{dataset}.log",
    benchmark:
        "logs/benchmarks/download/{dataset}.tsv"
    wildcard_constraints:
        dataset=one_of(REAL_DATASETS),
    conda:
        "../envs/vifi.yaml"
    params:
        key=lambda wc: registry_key(wc.dataset),
        entry=registry_entry,
        opts=download_flags(),
    shell:
        "python -m vifi download --dataset {params.key:q} {params.opts} --out {output:q} > {log:q} 2>&1"
        " && if [ ! -d {output:q}/videos ]; then echo {output:q}' has no videos/ folder: registry entry '"
        "{params.key:q}' must extract its video files under videos/ (extract_to)' | tee -a {log:q} >&2; exit 1; fi"


# Registry checkpoints (e.g. model.weights: checkpoints/pretrained/ViT-B-16.pt) are downloaded and verified
# rather than pretrained, and land where DVC tracks them.
rule download_weights:
    input:
        code=code("download"),
    output:
        "checkpoints/pretrained/{weights}.pt",
    log:
        "logs/download/weights-{weights}.log",
    benchmark:
        "logs/benchmarks/download/weights-{weights}.tsv"
    wildcard_constraints:
        weights=one_of(REGISTRY_WEIGHTS),
    conda:
        "../envs/vifi.yaml"
    params:
        entry=weights_entry,
        opts=download_flags(),
    shell:
        "python -m vifi download --weights {wildcards.weights:q} {params.opts} --out {output:q} > {log:q} 2>&1"


ruleorder: download_weights > pretrain


rule extract:
    input:
        raw="data/raw/{dataset}",
        code=code("extract"),
    output:
        "data/frames/{dataset}/shard-{shard}-of-{n}.bin",
    log:
        "logs/extract/{dataset}-{shard}-of-{n}.log",
    benchmark:
        "logs/benchmarks/extract/{dataset}-{shard}-of-{n}.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        pin=kernels.shell_prefix(config["extract"]["kernels"]),
        opts=flags(config["extract"], skip=("shards", "kernels")),
    shell:
        "{params.pin} python -m vifi extract --videos {input.raw:q}/videos --shard {wildcards.shard}"
        " --num-shards {wildcards.n} {params.opts} --out {output:q} > {log:q} 2>&1"


# A bad dataset stops here: split lists (and so training and evaluation) need its quarantine check to pass.
# Jobs that read frames depend on the manifest, one small file naming the shards and their content hashes.
rule quarantine:
    input:
        shards=frame_shards,
        code=code("quarantine"),
    output:
        csv="data/frames/{dataset}/quarantine.csv",
        manifest="data/frames/{dataset}/manifest.json",
    log:
        "logs/quarantine/{dataset}.log",
    benchmark:
        "logs/benchmarks/quarantine/{dataset}.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        max_fraction=config["data"]["max_quarantined_fraction"],
    shell:
        "python -m vifi quarantine --shards {input.shards:q} --max-fraction {params.max_fraction}"
        " --out {output.csv:q} --manifest {output.manifest:q} > {log:q} 2>&1"


rule splits_base2novel:
    input:
        raw="data/raw/{dataset}",
        quarantine="data/frames/{dataset}/quarantine.csv",
        lists="data/lists/{dataset}",
        code=code("splits"),
    output:
        labels=expand(
            "data/splits/{{dataset}}/base2novel/{part}_labels.csv",
            part=("base", "novel"),
        ),
        val=expand(
            "data/splits/{{dataset}}/base2novel/{part}_val.txt", part=("base", "novel")
        ),
        train=expand(
            "data/splits/{{dataset}}/base2novel/fs_base_s{seed}_train.txt",
            seed=config["base2novel"]["seeds"],
        ),
        missing=multiext(
            "data/splits/{dataset}/base2novel/missing_videos", ".json", ".csv"
        ),
    log:
        "logs/splits/{dataset}-base2novel.log",
    benchmark:
        "logs/benchmarks/splits/{dataset}-base2novel.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        source=split_args,
        seeds=" ".join(map(str, config["base2novel"]["seeds"])),
        out_dir=lambda wc, output: os.path.dirname(output.labels[0]),
    shell:
        "python -m vifi splits {params.source} --seeds {params.seeds} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule splits_fewshot:
    input:
        raw="data/raw/{dataset}",
        quarantine="data/frames/{dataset}/quarantine.csv",
        lists="data/lists/{dataset}",
        code=code("protocols"),
    output:
        labels="data/splits/{dataset}/fewshot/labels.csv",
        val="data/splits/{dataset}/fewshot/val.txt",
        train=expand(
            "data/splits/{{dataset}}/fewshot/train_{shots}shot_seed{seed}.txt",
            shots=config["fewshot"]["shots"],
            seed=config["fewshot"]["seeds"],
        ),
        missing=multiext(
            "data/splits/{dataset}/fewshot/missing_videos", ".json", ".csv"
        ),
    log:
        "logs/splits/{dataset}-fewshot.log",
    benchmark:
        "logs/benchmarks/splits/{dataset}-fewshot.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        source=protocol_split_args("fewshot"),
        out_dir=lambda wc, output: os.path.dirname(output.labels),
    shell:
        "python -m vifi protocols --protocol fewshot {params.source} --out-dir {params.out_dir:q}"
        " > {log:q} 2>&1"


rule splits_zeroshot:
    input:
        raw="data/raw/{dataset}",
        quarantine="data/frames/{dataset}/quarantine.csv",
        lists="data/lists/{dataset}",
        code=code("protocols"),
    output:
        lists=expand(
            "data/splits/{{dataset}}/zeroshot/split{s}_{part}",
            s=ZS["splits"],
            part=("val.txt", "labels.csv"),
        ),
        missing=multiext(
            "data/splits/{dataset}/zeroshot/missing_videos", ".json", ".csv"
        ),
    log:
        "logs/splits/{dataset}-zeroshot.log",
    benchmark:
        "logs/benchmarks/splits/{dataset}-zeroshot.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        source=protocol_split_args("zeroshot"),
        out_dir=lambda wc, output: os.path.dirname(output.missing[0]),
    shell:
        "python -m vifi protocols --protocol zeroshot {params.source} --out-dir {params.out_dir:q}"
        " > {log:q} 2>&1"


rule splits_full:
    input:
        raw="data/raw/{dataset}",
        quarantine="data/frames/{dataset}/quarantine.csv",
        lists="data/lists/{dataset}",
        code=code("protocols"),
    output:
        lists=multiext(
            "data/splits/{dataset}/full/", "train.txt", "val.txt", "labels.csv"
        ),
        missing=multiext("data/splits/{dataset}/full/missing_videos", ".json", ".csv"),
    log:
        "logs/splits/{dataset}-full.log",
    benchmark:
        "logs/benchmarks/splits/{dataset}-full.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        source=protocol_split_args("fullsup"),
        out_dir=lambda wc, output: os.path.dirname(output.missing[0]),
    shell:
        "python -m vifi protocols --protocol fullsup {params.source} --out-dir {params.out_dir:q}"
        " > {log:q} 2>&1"


rule data_all:
    input:
        expand(
            "data/frames/{dataset}/shard-{shard}-of-{n}.bin",
            dataset=DATASETS,
            shard=SHARDS,
            n=config["extract"]["shards"],
        ),
        expand("data/frames/{dataset}/quarantine.csv", dataset=DATASETS),
        [f for protocol in PROTOCOLS for f in protocol_splits(protocol)],
        [f for protocol in PROTOCOLS for f in protocol_audits(protocol)],
