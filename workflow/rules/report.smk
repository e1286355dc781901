# Aggregation per protocol, one rule run per table and per figure (so a changed run or template re-renders only
# what uses it), the results page and the paper. What is made is decided in outputs.smk.


rule aggregate:
    input:
        metrics=lambda wc: run_metrics(wc.protocol),
        predictions=lambda wc: run_predictions(wc.protocol),
        code=code("aggregate"),
    output:
        csv="results/aggregates/{protocol}.csv",
        json="results/metrics/{protocol}.json",
    log:
        "logs/aggregate/{protocol}.log",
    benchmark:
        "logs/benchmarks/aggregate/{protocol}.tsv"
    conda:
        "../envs/vifi.yaml"
    shell:
        "python -m vifi aggregate --protocol {wildcards.protocol} --out-csv {output.csv:q}"
        " --out-json {output.json:q} {input.metrics:q} > {log:q} 2>&1"


rule flops:
    input:
        weights=flops_weights,
        code=code("flops"),
    output:
        "results/metrics/flops/{dataset}.json",
    log:
        "logs/flops/{dataset}.log",
    benchmark:
        "logs/benchmarks/flops/{dataset}.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        arch=config["model"]["arch"],
        weights=lambda wc, input: (
            flags({"weights": input.weights[0]}) if input.weights else ""
        ),
        methods=flops_sections,
    shell:
        "python -m vifi flops --arch {params.arch:q} {params.weights} --json {output:q} {params.methods}"
        " > {log:q} 2>&1"


rule render:
    input:
        metrics=lambda wc: f"results/aggregates/{TABLES[wc.table]}.csv",
        flops=flops_files,
        audits=table_audits,
        templates=multiext(f"{TEMPLATES}/{{table}}", ".tex.j2", ".html.j2"),
        shared=multiext(f"{TEMPLATES}/_table", ".tex.j2", ".html.j2"),
        code=code("render"),
    output:
        tex="results/tables/{table}.tex",
        html=report(
            "results/tables/{table}.html",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{table}"},
        ),
    log:
        "logs/render/{table}.log",
    benchmark:
        "logs/benchmarks/render/{table}.tsv"
    wildcard_constraints:
        table="|".join(TABLES),
    conda:
        "../envs/vifi.yaml"
    params:
        mode=config["mode"],
        flops=lambda wc, input: (
            f"--flops {shell_words(input.flops)}" if input.flops else ""
        ),
        tolerance=config["report"]["tolerance"],
        ci=flags({"ci": config["report"]["ci"]}),
    shell:
        "python -m vifi render --table {wildcards.table} --metrics {input.metrics:q} --mode {params.mode}"
        " {params.flops} --audits {input.audits:q} --tolerance {params.tolerance} {params.ci}"
        " --out-tex {output.tex:q} --out-html {output.html:q} > {log:q} 2>&1"


# Which of the papers' claims hold (src/vifi/report/findings.yaml), from every protocol's aggregate and the
# runs' per-video files; closed by the t-SNE embeddings' measured cluster sentence where there is one.
rule findings:
    input:
        metrics=expand("results/aggregates/{protocol}.csv", protocol=PROTOCOLS),
        predictions=[p for protocol in PROTOCOLS for p in run_predictions(protocol)],
        clusters=[f for f in cluster_files() if f.endswith(".json")],
        templates=multiext(f"{TEMPLATES}/findings", ".tex.j2", ".html.j2"),
        code=code("findings"),
    output:
        tex="results/tables/findings.tex",
        html=report(
            "results/tables/findings.html",
            caption="../report/findings.rst",
            category="Tables",
            labels={"table": "findings"},
        ),
        json="results/metrics/findings.json",
    log:
        "logs/findings.log",
    benchmark:
        "logs/benchmarks/findings.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        mode=config["mode"],
        metrics=shell_words(f"{p}=results/aggregates/{p}.csv" for p in PROTOCOLS),
        clusters=lambda wc, input: (
            f"--clusters {shell_words(input.clusters)}" if input.clusters else ""
        ),
    shell:
        "python -m vifi findings --mode {params.mode} --metrics {params.metrics} {params.clusters}"
        " --out-tex {output.tex:q} --out-html {output.html:q} --out-json {output.json:q} > {log:q} 2>&1"


rule figure_metrics:
    input:
        metrics="results/aggregates/{kind}.csv",
        code=code("figures"),
    output:
        pdf="results/figures/{kind}.pdf",
        png=report(
            "results/figures/{kind}.png",
            caption="../report/figure.rst",
            category="Figures",
        ),
    log:
        "logs/figures/{kind}.log",
    benchmark:
        "logs/benchmarks/figures/{kind}.tsv"
    wildcard_constraints:
        kind="fewshot|base2novel",
    conda:
        "../envs/vifi.yaml"
    params:
        mode=config["mode"],
    shell:
        "python -m vifi figures --kind {wildcards.kind} --mode {params.mode} --metrics {input.metrics:q}"
        " --out-pdf {output.pdf:q} --out-png {output.png:q} > {log:q} 2>&1"


rule figure_curves:
    input:
        logs=lambda wc: [
            m.replace("model.pt", "train_log.csv")
            for m in protocol_models(wc.protocol)
        ],
        code=code("figures"),
    output:
        pdf="results/figures/curves_{protocol}.pdf",
        png=report(
            "results/figures/curves_{protocol}.png",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="Training curves",
        ),
    log:
        "logs/figures/curves_{protocol}.log",
    benchmark:
        "logs/benchmarks/figures/curves_{protocol}.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        mode=config["mode"],
    shell:
        "python -m vifi figures --kind curves --mode {params.mode} --logs {input.logs:q}"
        " --out-pdf {output.pdf:q} --out-png {output.png:q} > {log:q} 2>&1"


# The paper's main figure: zero-shot video embeddings of the first target's split 1, vanilla CLIP vs the
# source-trained ViFi-CLIP.
rule embed:
    input:
        frames="data/frames/{dataset}/manifest.json",
        weights=lambda wc: eval_weights(
            Namespace(
                protocol="zeroshot", dataset=wc.dataset, method=wc.method, run="main"
            )
        ),
        split=multiext(
            "data/splits/{dataset}/zeroshot/split1_", "val.txt", "labels.csv"
        ),
        code=code("vifi.stages.gpu_pool", "embed"),
    output:
        "results/embeddings/{dataset}/{method}.npz",
    log:
        "logs/embed/{dataset}/{method}.log",
    benchmark:
        "logs/benchmarks/embed/{dataset}/{method}.tsv"
    conda:
        "../envs/vifi.yaml"
    threads: 1
    resources:
        gpu=1,
    params:
        arch=config["model"]["arch"],
        frames=recipe("zeroshot", "vifi")["num_frames"],
        view=lambda wc: flags(
            {
                k: v
                for k, v in recipe("zeroshot", wc.method).items()
                if k in ("normalize", "sampling", "stride")
            }
        ),
    shell:
        "python -m vifi.stages.gpu_pool -n {resources.gpu} --"
        " python -m vifi embed --frames {input.frames:q} --weights {input.weights:q} --arch {params.arch:q}"
        " --method {wildcards.method} --num-frames {params.frames} {params.view} --list {input.split[0]:q}"
        " --labels {input.split[1]:q} --out {output:q} > {log:q} 2>&1"


# The measured sentence behind the t-SNE figure: how tightly each model's embeddings cluster by class.
rule clusters:
    input:
        vanilla="results/embeddings/{dataset}/vanilla.npz",
        vifi="results/embeddings/{dataset}/vifi.npz",
        code=code("clusters"),
    output:
        json="results/figures/clusters_{dataset}.json",
        tex="results/figures/clusters_{dataset}.tex",
    log:
        "logs/clusters/{dataset}.log",
    benchmark:
        "logs/benchmarks/clusters/{dataset}.tsv"
    conda:
        "../envs/vifi.yaml"
    shell:
        "python -m vifi clusters --dataset {wildcards.dataset}"
        " --embeddings vanilla={input.vanilla:q} vifi={input.vifi:q}"
        " --out-json {output.json:q} --out-tex {output.tex:q} > {log:q} 2>&1"


rule figure_tsne:
    input:
        vanilla="results/embeddings/{dataset}/vanilla.npz",
        vifi="results/embeddings/{dataset}/vifi.npz",
        code=code("figures"),
    output:
        pdf="results/figures/tsne_{dataset}.pdf",
        png=report(
            "results/figures/tsne_{dataset}.png",
            caption="../report/figure.rst",
            category="Figures",
            subcategory="Embeddings",
        ),
    log:
        "logs/figures/tsne_{dataset}.log",
    benchmark:
        "logs/benchmarks/figures/tsne_{dataset}.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        mode=config["mode"],
    shell:
        "python -m vifi figures --kind tsne --mode {params.mode}"
        " --embeddings vanilla={input.vanilla:q} vifi={input.vifi:q}"
        " --out-pdf {output.pdf:q} --out-png {output.png:q} > {log:q} 2>&1"


rule index:
    input:
        tables=[
            "results/tables/findings.html",
            *expand("results/tables/{table}.html", table=ENABLED_TABLES),
            "results/tables/audit_effect.html",
        ],
        figures=[f for f in figures() if f.endswith(".png")],
        metrics=[m for p in PROTOCOLS for m in run_metrics(p)],
        template=f"{TEMPLATES}/index.html.j2",
        code=code("index"),
    output:
        report("results/index.html", caption="../report/index.rst", category="Overview"),
    log:
        "logs/index.log",
    benchmark:
        "logs/benchmarks/index.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        mode=config["mode"],
    shell:
        "python -m vifi index --mode {params.mode} --tables {input.tables:q} --figures {input.figures:q}"
        " --metrics {input.metrics:q} --out {output:q} > {log:q} 2>&1"


rule paper:
    input:
        tex="paper/main.tex",
        tables=[
            *expand("results/tables/{table}.tex", table=ENABLED_TABLES),
            "results/tables/findings.tex",
        ],
        figures=[f for f in figures() if f.endswith(".pdf")],
        snippets=[f for f in cluster_files() if f.endswith(".tex")],
        code=code("paper"),
    output:
        report("paper/main.pdf", caption="../report/paper.rst", category="Overview"),
    log:
        "logs/paper.log",
    benchmark:
        "logs/benchmarks/paper.tsv"
    conda:
        "../envs/vifi.yaml"
    shell:
        "python -m vifi paper --tex {input.tex:q} --tables {input.tables:q} --figures {input.figures:q}"
        " --snippets {input.snippets:q} --out {output:q} > {log:q} 2>&1"


rule report_all:
    input:
        expand("results/metrics/{protocol}.json", protocol=PROTOCOLS),
        expand(
            "results/tables/{table}.{ext}", table=ENABLED_TABLES, ext=("tex", "html")
        ),
        multiext("results/tables/findings", ".tex", ".html"),
        figures(),
        cluster_files(),
        "results/index.html",
        [] if NO_TEX else ["paper/main.pdf"],


# What the release audit's disagreements do to every evaluation: top-1 as released and by name.
rule audit_effect:
    input:
        audit_effect_inputs,
        template=multiext(f"{TEMPLATES}/audit_effect", ".tex.j2", ".html.j2"),
        code=code("audit-effect"),
    output:
        tex="results/tables/audit_effect.tex",
        html=report(
            "results/tables/audit_effect.html",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "audit_effect"},
        ),
    log:
        "logs/render/audit_effect.log",
    benchmark:
        "logs/benchmarks/render/audit_effect.tsv"
    conda:
        "../envs/vifi.yaml"
    params:
        cases=audit_effect_args,
        policy=config["audit"]["policy"],
        mode=config["mode"],
    shell:
        "python -m vifi audit-effect {params.cases} --policy {params.policy} --mode {params.mode}"
        " --out-tex {output.tex:q} --out-html {output.html:q} > {log:q} 2>&1"
