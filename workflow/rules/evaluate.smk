# Evaluation: each set against its own class names (METHODS.md §5); sets per protocol in grid.smk. Rule
# evaluate scores one run (`main`); evaluate_seeds and evaluate_shots score all base-to-novel seeds or few-shot
# shot counts of a method in one job (grid.smk: eval_runs), evaluate_targets a zero-shot model on every
# target (eval_datasets). Each run's metrics.json has its per-video predictions.csv beside it.
RUN_OUTPUTS = ("metrics.json", "predictions.csv")


rule evaluate:
    input:
        frames=eval_frames,
        weights=eval_weights,
        sets=eval_files,
        code=code("vifi.stages.gpu_pool", "evaluate"),
    output:
        metrics="results/runs/{protocol}/{dataset}/{method}/{run}/metrics.json",
        predictions="results/runs/{protocol}/{dataset}/{method}/{run}/predictions.csv",
    log:
        "logs/evaluate/{protocol}/{dataset}/{method}/{run}.log",
    benchmark:
        "logs/benchmarks/evaluate/{protocol}/{dataset}/{method}/{run}.tsv"
    wildcard_constraints:
        protocol="base2novel|fullsup",
        run="main",
    conda:
        "../envs/vifi.yaml"
    threads: 1 + config["evaluate"]["workers"]
    resources:
        gpu=1,
        workers=loader_workers,
    params:
        arch=config["model"]["arch"],
        model=lambda wc: model_flags(wc.protocol, wc.method),
        views=eval_flags,
        runs=eval_runs,
        datasets=eval_args,
    shell:
        "python -m vifi.stages.gpu_pool -n {resources.gpu} --torchrun --"
        " python -m vifi evaluate --weights {input.weights:q} --arch {params.arch:q}"
        " --method {wildcards.method} {params.model} {params.views}"
        " --threads {threads} --workers {resources.workers}"
        " --protocol {wildcards.protocol} --run-name {params.runs:q} {params.datasets} > {log:q} 2>&1"


use rule evaluate as evaluate_seeds with:
    output:
        expand(
            "results/runs/{{protocol}}/{{dataset}}/{{method}}/seed{seed}/{file}",
            seed=config["base2novel"]["seeds"],
            file=RUN_OUTPUTS,
        ),
    log:
        "logs/evaluate/{protocol}/{dataset}/{method}/seeds.log",
    benchmark:
        "logs/benchmarks/evaluate/{protocol}/{dataset}/{method}/seeds.tsv"
    wildcard_constraints:
        protocol="base2novel",


use rule evaluate as evaluate_shots with:
    output:
        expand(
            "results/runs/{{protocol}}/{{dataset}}/{{method}}/{run}/{file}",
            run=fewshot_run_names(),
            file=RUN_OUTPUTS,
        ),
    log:
        "logs/evaluate/{protocol}/{dataset}/{method}/shots.log",
    benchmark:
        "logs/benchmarks/evaluate/{protocol}/{dataset}/{method}/shots.tsv"
    wildcard_constraints:
        protocol="fewshot",


use rule evaluate as evaluate_targets with:
    output:
        expand(
            "results/runs/{{protocol}}/{dataset}/{{method}}/main/{file}",
            dataset=ZS["targets"],
            file=RUN_OUTPUTS,
        ),
    log:
        "logs/evaluate/{protocol}/{method}/targets.log",
    benchmark:
        "logs/benchmarks/evaluate/{protocol}/{method}/targets.tsv"
    wildcard_constraints:
        protocol="zeroshot",


rule runs_all:
    input:
        [f for protocol in PROTOCOLS for f in run_metrics(protocol)],
        [f for protocol in PROTOCOLS for f in run_predictions(protocol)],
