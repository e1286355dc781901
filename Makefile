# The two front-door commands (README): `make demo` and `make test`. Both set up .venv first.
VENV ?= .venv
export PATH := $(abspath $(VENV))/bin:$(PATH)
STAMP := $(VENV)/.installed
# Every package, transitive dependencies included, pinned with its sha256s (pip-compile from pyproject.toml).
LOCK := requirements.lock
PIP_TOOLS := pip-tools==7.7.0

.PHONY: setup demo test lint sync bench dvc-yaml lock

# The environment is the lock, verified by hash; the project itself goes on top without resolving anything.
# torch and its CUDA libraries unpack to about 6.5 GiB, and a demo or test run writes about 2 GiB more: a machine
# short of that is told so before pip starts, not with "No space left on device" halfway through the install.
MIN_FREE_GIB := 9
$(STAMP): pyproject.toml $(LOCK)
	python3 scripts/free_space.py $(MIN_FREE_GIB) .
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r $(LOCK)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

setup: $(STAMP)

# Debian packages (scripts/system-deps.sh): installed when missing and run as root with apt-get, as in CI;
# otherwise only listed, and the paper PDF is left out and the browser, TeX and SLURM tests skip.
demo: setup
	bash scripts/system-deps.sh tex
	snakemake --cores all

# Two pytest workers, whatever the core count: the SLURM tests mostly wait on the scheduler, so they start first
# (tests/conftest.py) and the other worker runs the rest meanwhile. Each module stays on one worker, so its
# module-scoped fixtures are built once; the smoke build is shared by both (tests/integration/conftest.py).
test: setup
	bash scripts/system-deps.sh tex browser slurm
	pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15

# Performance benchmarks (not tests): each prints ratios measured side by side in one run and writes
# results/benchmarks/<name>.json. About an hour on 2 cores, three runs of the demo included.
bench: setup
	bash scripts/system-deps.sh ffmpeg
	python benchmarks/run_all.py
	python benchmarks/gpu_hours.py
	python benchmarks/dag.py
	python benchmarks/demo.py
	python benchmarks/cross_kernel.py

lint: setup
	ruff check . && ruff format --check . && snakefmt --check --no-format-shell workflow && snakemake --lint

# dvc.yaml's generated parts: each stage's code dependencies (from the imports of its jobs) and `plots:` (every
# run's training curves, few-shot top-1 vs K, from the grid in params.yaml).
dvc-yaml: setup
	python scripts/dvc_yaml.py

# Re-resolve the lock after changing pyproject.toml's pins (about 6 minutes, from the package index), then
# `make setup` installs it. pip-tools runs from a virtualenv of its own, never entering the locked one.
lock:
	python3 -m venv $(VENV)/lock-tools
	$(VENV)/lock-tools/bin/pip install --quiet --disable-pip-version-check $(PIP_TOOLS)
	$(VENV)/lock-tools/bin/pip-compile --quiet --generate-hashes --allow-unsafe --extra dev --strip-extras \
		--no-emit-index-url --no-emit-find-links --output-file $(LOCK) pyproject.toml

# Re-align Snakemake's and DVC's records after one tool changed files behind the other's back.
sync: setup
	snakemake --touch --quiet
	dvc commit -f
