# Two commands do everything: `make run` (the whole study on the demo data) and `make test`.
# Both create .venv and install the pinned package when it is missing or pyproject.toml changed.
# The rules find the interpreter and src/ themselves (docs/environments.md); PATH below is only
# for tools the tests start by name.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= 2
# cffconvert (checks CITATION.cff) pins jsonschema<4 while the workflow needs 4.26, so pip cannot
# resolve both; its code works with 4.26 (tests/test_publication.py runs it), hence --no-deps.
CFFCONVERT := cffconvert==2.0.0 pykwalify==1.8.0 docopt==0.6.2 ruamel.yaml==0.19.1
SNAKEMAKE_ARGS ?=

.PHONY: run test lint clean install bench

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,audio]'
	$(BIN)/python -m pip install --quiet --no-deps $(CFFCONVERT)
	touch $(STAMP)

run: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)

test: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -q

# Every benchmark at the record's size (10 min on quiet 2-core machines, one whole demo study,
# bench_demo.py, included); writes benchmarks/RESULTS.md.
# Not part of `make test` or CI. Real sample documents come from ../shared/data (or $ABGD_SHARED_DATA).
bench: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/snakefmt --check Snakefile workflow
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/snakemake --lint

clean:
	rm -rf results .snakemake
