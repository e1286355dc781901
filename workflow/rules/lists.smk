# A dataset's official annotation files, as published (or as the synthetic generator writes them), become the
# lists every protocol is cut from: data/lists/<dataset>/{labels.csv, train<s>.txt, val<s>.txt, videos.csv}.


rule lists:
    input:
        raw="data/raw/{dataset}",
        labels=list_labels_input,
        exclude=list_exclusion_input,
        code=code("lists"),
    output:
        directory("data/lists/{dataset}"),
    log:
        "logs/lists/{dataset}.log",
    benchmark:
        "logs/benchmarks/lists/{dataset}.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        format=lambda wc: dataset_format(wc.dataset),
        labels=list_labels,
        extra=list_extra_args,
    shell:
        "python -m vifi lists --format {params.format} --root {input.raw:q} --labels {params.labels:q}"
        " {params.extra} --out-dir {output:q} > {log:q} 2>&1"


# The release audit: every list's label ids against the class each video's own path or annotation names.
# Training and evaluation read a folder's lists only once its audit is written; under `audit.policy: by_name`
# the released lists were already relabelled by name, so their audit shows what is left.
rule audit:
    input:
        sets=audit_files,
        lists="data/lists/{dataset}",
        code=code("audit"),
    output:
        json="data/splits/{dataset}/{folder}/audit.json",
        csv="data/splits/{dataset}/{folder}/audit.csv",
    log:
        "logs/audit/{dataset}-{folder}.log",
    benchmark:
        "logs/benchmarks/audit/{dataset}-{folder}.tsv"
    wildcard_constraints:
        folder="base2novel|fewshot|zeroshot|full",
    conda:
        "../envs/vifi.yaml"
    params:
        format=lambda wc: dataset_format(wc.dataset),
        sets=audit_args,
        policy=config["audit"]["policy"],
    shell:
        "python -m vifi audit --format {params.format} --names {input.lists:q}/videos.csv {params.sets}"
        " --policy {params.policy} --out {output.json:q} > {log:q} 2>&1"
