# What the report stage makes: which tables and figures the configured grid allows (functions only; the
# rules are in report.smk).
from snakemake.logging import logger
from vifi.report.tables import TABLES as TABLE_SPECS, table_owners
from vifi.report.tex import missing_tex

TEMPLATES = "src/vifi/report/templates"
# Each paper table and the protocol whose aggregate it reads.
TABLES = {name: spec.protocol for name, spec in TABLE_SPECS.items()}
FULLSUP_GRID = config["fullsup"]["grid"]


def grid_methods(protocol):
    """Every method a protocol's grid runs."""
    if protocol == "fullsup":
        return {m for methods in FULLSUP_GRID.values() for m in methods}
    return set(config[protocol]["methods"])


def table_enabled(name):
    """A table is made when its protocol runs and its grid has the rows it compares."""
    protocol = TABLES[name]
    if protocol not in PROTOCOLS:
        return False
    if name == "fullsup":
        return "k400" in FULLSUP_GRID
    if name == "evl_vs_vifi":
        return any({"vifi", "evl"} <= set(m) for m in FULLSUP_GRID.values())
    return bool(set(table_owners(protocol, name)) & grid_methods(protocol))


ENABLED_TABLES = [name for name in TABLES if table_enabled(name)]


def table_audits(wildcards):
    """The release audits of every list a table's numbers come from (trained on and evaluated on)."""
    return protocol_audits(TABLES[wildcards.table])


def audit_cases():
    """(run folder, set, label CSV, dataset) of every evaluation set of every run, for `vifi audit-effect`."""
    cases = []
    for protocol in PROTOCOLS:
        for metrics in run_metrics(protocol):
            run = os.path.dirname(metrics)
            dataset = run.split("/")[3]
            cases += [
                (run, name, labels, dataset)
                for name, _, labels in eval_sets(protocol, dataset)
            ]
    return cases


def audit_effect_inputs(wildcards):
    files = {f"{run}/{name}" for run, _, _, _ in audit_cases() for name in RUN_OUTPUTS}
    labels = {labels for _, _, labels, _ in audit_cases()}
    lists = {f"data/lists/{dataset}" for _, _, _, dataset in audit_cases()}
    return sorted(files | labels | lists)


def audit_effect_args(wildcards):
    return " ".join(
        f"--case {shell_words([run, name, labels, dataset_format(dataset)])}"
        f" {shlex.quote(f'data/lists/{dataset}/videos.csv')}"
        for run, name, labels, dataset in audit_cases()
    )


def flops_files(wildcards):
    """GFLOPs per view of the K400 fully supervised methods, for the fully supervised table."""
    return ["results/metrics/flops/k400.json"] if wildcards.table == "fullsup" else []


def flops_sections(wildcards):
    """One `--method` section per fully supervised method of the dataset: its model flags and frames.

    All of them are counted in one job: in the demo importing torch takes longer than counting.
    """
    return " ".join(
        f"--method {m} {model_flags('fullsup', m)} --num-frames {recipe('fullsup', m)['num_frames']}"
        for m in FULLSUP_GRID[wildcards.dataset]
    )


def flops_weights(wildcards):
    """The checkpoint whose architecture `model.arch: openai` counts; a named architecture needs none.

    "openai" is vifi.models.pretrained.OPENAI_ARCH, not imported: that would load torch at every DAG build.
    """
    return [pretrained_weights()] if config["model"]["arch"] == "openai" else []


def figures():
    """Every figure the enabled protocols allow, as (pdf, png) paths."""
    names = [
        f"curves_{p}"
        for p in PROTOCOLS
        if p != "zeroshot"
        or any(method_catalog.method(m).trained for m in ZS["methods"])
    ]
    names += [kind for kind in ("fewshot", "base2novel") if kind in PROTOCOLS]
    if "zeroshot" in PROTOCOLS and {"vanilla", "vifi"} <= set(ZS["methods"]):
        names.append(f"tsne_{ZS['targets'][0]}")
    return [f"results/figures/{n}.{ext}" for n in names for ext in ("pdf", "png")]


def cluster_files():
    """The measured cluster sentence of the t-SNE target (JSON for the findings, LaTeX for the paper)."""
    return [
        f.replace("tsne_", "clusters_").replace(".pdf", ext)
        for f in figures()
        if os.path.basename(f).startswith("tsne_") and f.endswith(".pdf")
        for ext in (".json", ".tex")
    ]


# Without TeX the paper is left out of the default target (and says why); everything else still builds.
NO_TEX = missing_tex()
if NO_TEX:
    logger.warning(f"paper/main.pdf is left out of the default target: {NO_TEX}")
