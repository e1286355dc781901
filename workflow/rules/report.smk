# Aggregation over seeds and table rendering.

TEMPLATES = "src/vifi/report/templates"


rule aggregate:
    input:
        metrics=lambda wc: run_metrics(wc.protocol),
        code=code("report/aggregate", "metrics", "names"),
    output:
        csv="results/metrics/{protocol}.csv",
        json="results/metrics/{protocol}.json",
    log:
        "logs/aggregate/{protocol}.log",
    conda:
        "../envs/vifi.yaml"
    shell:
        "python -m vifi aggregate --protocol {wildcards.protocol} --out-csv {output.csv}"
        " --out-json {output.json} {input.metrics} > {log} 2>&1"


rule render:
    input:
        metrics="results/metrics/{protocol}.csv",
        templates=multiext(f"{TEMPLATES}/{{protocol}}", ".tex.j2", ".html.j2"),
        code=code("report/tables", "names"),
    output:
        tex="results/tables/{protocol}.tex",
        html="results/tables/{protocol}.html",
    log:
        "logs/render/{protocol}.log",
    conda:
        "../envs/vifi.yaml"
    params:
        mode=config["mode"],
        templates=lambda wc, input: os.path.dirname(input.templates[0]),
    shell:
        "python -m vifi render --metrics {input.metrics} --templates {params.templates}"
        " --mode {params.mode} --out-tex {output.tex} --out-html {output.html} > {log} 2>&1"


rule report_all:
    input:
        expand("results/metrics/{protocol}.json", protocol=PROTOCOLS),
        expand(
            "results/tables/base2novel.{ext}",
            ext=("tex", "html") if "base2novel" in PROTOCOLS else (),
        ),
