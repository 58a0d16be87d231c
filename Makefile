# Two commands set everything up on a fresh machine (Python 3.11+ and make):
#   make run    sample data in, tested marts out, a short summary printed
#   make test   the whole test suite
# Both create or reuse .venv with the project installed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench clean-data help labextension

help:
	@echo "make run | make test | make bench | make clean-data | make labextension"

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

# The %%sql highlighter for JupyterLab: its TypeScript (labextension/) built against the
# JupyterLab in .venv into workbench/labextension/, which is committed, so only whoever
# changes the TypeScript needs node and npm. The reinstall copies it into the venv.
labextension: $(STAMP)
	cd labextension && npm ci --no-audit --no-fund && node_modules/.bin/tsc
	cd labextension && node_modules/.bin/build-labextension --core-path \
		"$$($(abspath $(BIN))/python -c 'import jupyterlab, pathlib; print(pathlib.Path(jupyterlab.__file__).parent / "staging")')" .
	$(BIN)/python -m pip install --quiet --no-deps -e .

clean-data:
	rm -rf data/landing data/labeled data/*.duckdb data/*.duckdb.* .workbench
