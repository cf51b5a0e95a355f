# The README's two commands: `make up` (set up and run the main job) and `make test`.
# Only make, Python 3.11 and the package registries are assumed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# The second environment: TransformerLens 4 for `training.core.bridge` (the app pins 3.9). Built once
# and kept (ignored by git), so only the first `make test` pays for it.
VENV_TL4 := .venv-tl4
ARTIFACTS ?= artifacts

.PHONY: setup setup-tl4 up train test test-tl4 clean-venv

setup: $(VENV)/.installed

# torch is installed first and on its own: the pinned CPU build, so nothing pulls a CUDA build.
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt
	touch $@

setup-tl4: $(VENV_TL4)/.installed

# Its own interpreter and packages (no --system-site-packages), torch pinned first as above.
$(VENV_TL4)/.installed: requirements-tl4.txt
	$(PYTHON) -m venv $(VENV_TL4)
	$(VENV_TL4)/bin/python -m pip install -q --upgrade pip
	$(VENV_TL4)/bin/python -m pip install -q torch==2.13.0
	$(VENV_TL4)/bin/python -m pip install -q -r requirements-tl4.txt
	touch $@

# Starts the REST service and the dashboard, prints their URLs and, if the default suite is
# missing or unfinished, trains it in the background (interrupted runs resume). Ctrl-C stops all.
up: setup
	ARTIFACTS_DIR=$(ARTIFACTS) $(PY) scripts/stack.py up

# Only (re)train the default suite: complete runs are skipped, interrupted ones resume.
train: setup
	$(PY) -m training train --preset default --out $(ARTIFACTS) --resume

# Lint, format and the architecture's import contracts first (seconds), then the tests, then
# the TransformerLens 4 tests in their own environment.
test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest
	$(MAKE) test-tl4

# `training.core.bridge` against TransformerLens 4 (tests/tl4; the app's pytest does not collect them).
test-tl4: setup-tl4
	$(VENV_TL4)/bin/python -m pytest tests/tl4

clean-venv:
	rm -rf $(VENV) $(VENV_TL4)
