# The two front-door commands (README): `make demo` and `make test`. Both set up .venv first.
VENV ?= .venv
export PATH := $(abspath $(VENV))/bin:$(PATH)
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint sync bench dvc-plots

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

setup: $(STAMP)

# Debian packages (scripts/system-deps.sh): installed when missing and run as root with apt-get, as in CI;
# otherwise only listed, and the paper PDF is left out and the browser and TeX tests skip.
demo: setup
	bash scripts/system-deps.sh tex
	snakemake --cores all

test: setup
	bash scripts/system-deps.sh tex browser
	pytest -q

# Performance benchmarks (not tests): each prints ratios measured side by side in one run and writes
# results/benchmarks/<name>.json. About 45 minutes on 2 cores, three runs of the demo included.
bench: setup
	python benchmarks/run_all.py
	python benchmarks/dag.py
	python benchmarks/demo.py
	python benchmarks/cross_kernel.py

lint: setup
	ruff check . && ruff format --check . && snakefmt --check --no-format-shell workflow && snakemake --lint

# dvc.yaml's `plots:` (every run's training curves, few-shot top-1 vs K) from the grid in params.yaml.
dvc-plots: setup
	python scripts/dvc_plots.py

# Re-align Snakemake's and DVC's records after one tool changed files behind the other's back.
sync: setup
	snakemake --touch --quiet
	dvc commit -f
