# The two front-door commands (README): `make demo` and `make test`. Both set up .venv first.
VENV ?= .venv
export PATH := $(abspath $(VENV))/bin:$(PATH)
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint sync

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

setup: $(STAMP)

demo: setup
	snakemake --cores all

test: setup
	pytest -q

lint: setup
	ruff check . && ruff format --check . && snakefmt --check --no-format-shell workflow && snakemake --lint

# Re-align Snakemake's and DVC's records after one tool changed files behind the other's back.
sync: setup
	snakemake --touch --quiet
	dvc commit -f
