# The demo's image-pretrained CLIP. In paper mode `model.weights` names a local checkpoint instead and this
# rule is not part of the DAG.


rule pretrain:
    input:
        stills="data/raw/stills.npz",
        code=code("vifi.stages.gpu_pool", "pretrain"),
    output:
        weights="checkpoints/pretrained/{arch}.pt",
        curve="checkpoints/pretrained/{arch}.curve.csv",
    log:
        "logs/pretrain/{arch}.log",
    benchmark:
        "logs/benchmarks/pretrain/{arch}.tsv"
    conda:
        "../envs/vifi.yaml"
    threads: config["pretrain"]["threads"]
    resources:
        gpu=1,
    params:
        pin=kernels.shell_prefix(config["pretrain"]["kernels"]),
        opts=flags(config["pretrain"], skip=("kernels",)),
    shell:
        "{params.pin} python -m vifi.stages.gpu_pool -n {resources.gpu} --"
        " python -m vifi pretrain --stills {input.stills:q} --arch {wildcards.arch:q} {params.opts}"
        " --out {output.weights:q} --log-csv {output.curve:q} > {log:q} 2>&1"


rule pretrain_all:
    input:
        pretrained_weights(),
