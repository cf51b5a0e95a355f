# The README's two commands: `make up` (set up and run the main job) and `make test`.
# Only make, Python 3.11 and the package registries are assumed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
ARTIFACTS ?= artifacts

.PHONY: setup up train test clean-venv

setup: $(VENV)/.installed

# torch is installed first and on its own: the pinned CPU build, so nothing pulls a CUDA build.
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	touch $@

# Starts the REST service and the dashboard, prints their URLs and, if the default suite is
# missing or unfinished, trains it in the background (interrupted runs resume). Ctrl-C stops all.
up: setup
	ARTIFACTS_DIR=$(ARTIFACTS) $(PY) scripts/stack.py up

# Only (re)train the default suite: complete runs are skipped, interrupted ones resume.
train: setup
	$(PY) -m training train --preset default --out $(ARTIFACTS) --resume

# Lint, format and the architecture's import contracts first (seconds), then the tests.
test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest

clean-venv:
	rm -rf $(VENV)
