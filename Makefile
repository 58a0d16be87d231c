# Two commands set everything up on a fresh machine (Python 3.11+ and make):
#   make run    sample data in, tested marts out, a short summary printed
#   make test   the whole test suite
# Both create or reuse .venv with the project installed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench clean-data help

help:
	@echo "make run | make test | make bench | make clean-data"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Python 3.11+ is required (found $$($(PYTHON) --version))"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/workbench demo-data
	$(BIN)/workbench run

test: $(STAMP)
	bash tests/browser_setup.sh
	$(BIN)/python -m pytest --numprocesses=auto --maxprocesses=2 --durations=15

bench: $(STAMP)
	$(BIN)/python benchmarks/imports.py
	$(BIN)/python benchmarks/core.py --rows 100000

clean-data:
	rm -rf data/landing data/labeled data/*.duckdb data/*.duckdb.* .workbench
