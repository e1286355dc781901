# The experiment grid: which runs each protocol has, what each run trains on and what it is evaluated on.
# A run directory is results/runs/<protocol>/<dataset>/<method>/<run>/, where <run> is `seed<k>` (the
# base-to-novel training subsets), `<K>shot-seed<s>` (few-shot), `main` (one run per dataset and method) or
# `rng<seed>` (a further bridge for prompting: the zero-shot source's ViFi-CLIP at another RNG seed).


def b2n_runs():
    """Trained methods once per training subset; an untrained one (vanilla CLIP), the same on every subset, once
    (`main`)."""
    b2n = config["base2novel"]
    return [
        (dataset, method, run)
        for dataset in b2n["datasets"]
        for method in b2n["methods"]
        if not prompt_saw_novel(dataset, method)
        for run in (
            [f"seed{s}" for s in b2n["seeds"]]
            if method_catalog.method(method).trained
            else ["main"]
        )
    ]


def prompt_saw_novel(dataset, method):
    """Prompting skips the zero-shot source when its bridge was trained here on all of that dataset's classes."""
    return (
        bridged(method) and not config["bridge"]["weights"] and dataset == ZS["source"]
    )


def fewshot_run_names():
    """`<K>shot-seed<s>`: one run per shot count K and K-shot draw s."""
    fs = config["fewshot"]
    return [f"{k}shot-seed{s}" for k in fs["shots"] for s in fs["seeds"]]


def fewshot_runs():
    fs = config["fewshot"]
    return [
        (dataset, method, run)
        for dataset in fs["datasets"]
        for method in fs["methods"]
        for run in fewshot_run_names()
    ]


def zeroshot_runs():
    """Evaluations on the targets; the models are trained once on the source (`trained_runs`)."""
    return [
        (target, method, "main") for target in ZS["targets"] for method in ZS["methods"]
    ]


def fullsup_runs():
    grid = config["fullsup"]["grid"]
    return [
        (dataset, method, "main")
        for dataset, methods in grid.items()
        for method in methods
    ]


EVALUATED = {
    "zeroshot": zeroshot_runs,
    "base2novel": b2n_runs,
    "fewshot": fewshot_runs,
    "fullsup": fullsup_runs,
}


def run_dir(protocol, dataset, method, run):
    return f"results/runs/{protocol}/{dataset}/{method}/{run}"


def run_metrics(protocol):
    """Every metrics file of one protocol over its configured grid."""
    return [f"{run_dir(protocol, *r)}/metrics.json" for r in EVALUATED[protocol]()]


def run_predictions(protocol):
    """The per-video file beside each metrics file of one protocol (what the intervals resample)."""
    return [m.replace("metrics.json", "predictions.csv") for m in run_metrics(protocol)]


def trained_dir(protocol, dataset, method, run):
    """The run directory that trains a run's model.

    A fully supervised run on the zero-shot source trains on the same list as the zero-shot protocol's model
    of that method; when its recipe and model flags are also the same (the demo: same frames and epochs; not
    the paper, 16 vs 32 frames), it is the same experiment, so it is trained once, under zeroshot/.
    """
    shared = (
        protocol == "fullsup"
        and dataset == ZS["source"]
        and method in ZS["methods"]
        and recipe("fullsup", method) == recipe("zeroshot", method)
        and model_flags("fullsup", method) == model_flags("zeroshot", method)
    )
    if shared:
        return run_dir("zeroshot", dataset, method, "main")
    return run_dir(protocol, dataset, method, run)


def protocol_models(protocol):
    """The fine-tuned models one protocol evaluates (an untrained method has none), without repeats."""
    if protocol == "zeroshot":
        grid = [(ZS["source"], m, "main") for m in ZS["methods"]]
    else:
        grid = EVALUATED[protocol]()
    dirs = [
        trained_dir(protocol, *r) for r in grid if method_catalog.method(r[1]).trained
    ]
    return [f"{d}/model.pt" for d in dict.fromkeys(dirs)]


def trained_models():
    """Every fine-tuned model of the enabled protocols, each once, with the bridges trained for their prompting."""
    models = [m for protocol in PROTOCOLS for m in protocol_models(protocol)]
    bridges = [
        bridge_weights(run)
        for protocol in PROTOCOLS
        for _, method, run in EVALUATED[protocol]()
        if bridged(method) and not config["bridge"]["weights"]
    ]
    return list(dict.fromkeys(models + bridges))


def splits_dir(wildcards, protocol=None):
    return f"data/splits/{wildcards.dataset}/{protocol or wildcards.protocol}"


def split_folder(protocol):
    """The folder under data/splits/<dataset>/ of a protocol's lists (every class: `full`)."""
    return protocol if protocol in ("base2novel", "fewshot", "zeroshot") else "full"


def train_inputs(wildcards):
    """The training list and label file of one run, and the audit of their folder (so it runs first)."""
    if wildcards.protocol == "base2novel":
        d = splits_dir(wildcards)
        seed = wildcards.run.removeprefix("seed")
        files = {
            "train_list": f"{d}/fs_base_s{seed}_train.txt",
            "labels": f"{d}/base_labels.csv",
        }
    elif wildcards.protocol == "fewshot":
        d = splits_dir(wildcards)
        shots, seed = wildcards.run.split("shot-seed")
        files = {
            "train_list": f"{d}/{fewshot_list(int(shots), int(seed))}",
            "labels": f"{d}/labels.csv",
        }
    else:  # zero-shot source and fully supervised: every class
        d = splits_dir(wildcards, "full")
        files = {"train_list": f"{d}/train.txt", "labels": f"{d}/labels.csv"}
    return {**files, "audit": f"{d}/audit.json"}


def audit_sets(dataset, folder):
    """(list, label file) of every list in one split folder, as its split rule writes them."""
    d = f"data/splits/{dataset}/{folder}"
    if folder == "base2novel":
        trains = [f"fs_base_s{s}_train.txt" for s in config["base2novel"]["seeds"]]
        return [
            (f"{d}/{t}", f"{d}/base_labels.csv") for t in ["base_val.txt", *trains]
        ] + [(f"{d}/novel_val.txt", f"{d}/novel_labels.csv")]
    if folder == "zeroshot":
        return [
            (f"{d}/split{s}_val.txt", f"{d}/split{s}_labels.csv") for s in ZS["splits"]
        ]
    if folder == "fewshot":
        fs = config["fewshot"]
        names = [
            "val.txt",
            *(fewshot_list(k, s) for k in fs["shots"] for s in fs["seeds"]),
        ]
    else:
        names = ["train.txt", "val.txt"]
    return [(f"{d}/{n}", f"{d}/labels.csv") for n in names]


def audit_files(wildcards):
    return sorted(
        {p for pair in audit_sets(wildcards.dataset, wildcards.folder) for p in pair}
    )


def audit_args(wildcards):
    pairs = audit_sets(wildcards.dataset, wildcards.folder)
    return " ".join(
        f"--list {shlex.quote(lst)} --labels {shlex.quote(lab)}" for lst, lab in pairs
    )


def eval_sets(protocol, dataset):
    """(name, list, labels) of each evaluation set of one dataset's runs (METHODS.md §5.2)."""
    names = {
        "base2novel": ["base", "novel"],
        "zeroshot": [f"split{s}" for s in ZS["splits"]],
    }
    if protocol in names:
        d = f"data/splits/{dataset}/{protocol}"
        return [(n, f"{d}/{n}_val.txt", f"{d}/{n}_labels.csv") for n in names[protocol]]
    d = f"data/splits/{dataset}/{'fewshot' if protocol == 'fewshot' else 'full'}"
    return [("val", f"{d}/val.txt", f"{d}/labels.csv")]


def eval_datasets(wildcards):
    """The datasets one evaluation job scores: its own, or every zero-shot target (rule evaluate_targets).

    A zero-shot model is scored on every target in one job, as a method's seeds or shot counts are: in the
    demo a job's imports cost four times the scoring.
    """
    dataset = getattr(wildcards, "dataset", None)
    return [dataset] if dataset else ZS["targets"]


def frames_manifest(dataset):
    return f"data/frames/{dataset}/manifest.json"


def eval_frames(wildcards):
    return [frames_manifest(d) for d in eval_datasets(wildcards)]


def eval_files(wildcards):
    """Each scored dataset's lists and label files, and their folder's audit (so it runs first)."""
    folder = split_folder(wildcards.protocol)
    return [
        path
        for d in eval_datasets(wildcards)
        for _, lst, lab in eval_sets(wildcards.protocol, d)
        for path in (lst, lab)
    ] + [f"data/splits/{d}/{folder}/audit.json" for d in eval_datasets(wildcards)]


def eval_args(wildcards):
    """Per dataset, the `vifi evaluate` section naming its frames, sets and each run's metrics and per-video
    files."""
    sections = []
    for d in eval_datasets(wildcards):
        sets = eval_sets(wildcards.protocol, d)
        dirs = [
            run_dir(wildcards.protocol, d, wildcards.method, run)
            for run in eval_runs(wildcards)
        ]
        sections.append(
            f"--dataset {d} --frames {shell_words([frames_manifest(d)])} "
            + " ".join(f"--eval {n} {shell_words([lst, lab])}" for n, lst, lab in sets)
            + f" --out {shell_words(f'{r}/metrics.json' for r in dirs)}"
            + f" --predictions {shell_words(f'{r}/predictions.csv' for r in dirs)}"
        )
    return " ".join(sections)


GROUPED_RUNS = {
    "base2novel": lambda: [f"seed{s}" for s in config["base2novel"]["seeds"]],
    "fewshot": fewshot_run_names,
    # One run per target, every target in one job (eval_datasets).
    "zeroshot": lambda: ["main"],
}


def eval_runs(wildcards):
    """The runs one evaluation job scores: its own `run`, or every seed or shot count of a method.

    A method's base-to-novel seeds and few-shot shot counts share a dataset and evaluation sets, so one job
    scores them all (rules evaluate_seeds and evaluate_shots): in the demo a job's imports cost more than
    scoring a model.
    """
    run = getattr(wildcards, "run", None)
    return [run] if run else GROUPED_RUNS[wildcards.protocol]()


def eval_weights(wildcards):
    """Per run: an untrained method (vanilla CLIP) as loaded; the source's model for zero-shot targets; else the
    run's own model."""
    if not method_catalog.method(wildcards.method).trained:
        return [pretrained_weights()]
    if wildcards.protocol == "zeroshot":
        return [
            f"{run_dir('zeroshot', ZS['source'], wildcards.method, 'main')}/model.pt"
        ]
    where = (wildcards.protocol, wildcards.dataset, wildcards.method)
    return [f"{trained_dir(*where, run)}/model.pt" for run in eval_runs(wildcards)]


def eval_flags(wildcards):
    """How the model sees a video at test time: its recipe's frames, sampling and normalisation, the views."""
    keys = ("num_frames", "normalize", "sampling", "stride")
    sampling = {
        k: v
        for k, v in recipe(wildcards.protocol, wildcards.method).items()
        if k in keys
    }
    if wildcards.protocol == "fullsup":
        sampling |= {k: config["fullsup"][k] for k in ("num_clips", "num_crops")}
    return flags(sampling | {"batch_size": config["evaluate"]["batch_size"]})
