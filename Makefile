# aiida-hydrides: two commands do everything on a fresh Debian machine.
#   make demo   set up (system packages, .venv, AiiDA profile, codes, pseudopotentials) and run the demo
#   make test   set up the same way and run the test suite
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
SHARED ?= $(abspath ../shared)
PYTEST_ARGS ?=
# one test process per core (pytest-xdist; one test file at a time per process, the slow files first)
PYTEST_WORKERS ?= auto
export HYDRIDES_SHARED := $(SHARED)
export OMP_NUM_THREADS ?= 1

.PHONY: all setup system venv profile demo test test-fast benchmarks clean-venv help

help:
	@echo "make demo      set everything up and run the demo on the default AiiDA profile"
	@echo "make test      set everything up, lint and run the tests (slow real-QE tests included)"
	@echo "make test-fast the tests without the slow real-QE ones"
	@echo "make setup     only the set-up: system packages, .venv, AiiDA profile, codes, pseudopotentials"
	@echo "make docs      build the HTML documentation into docs/_build/html (warnings are errors)"
	@echo "make lint      ruff: lint and check the formatting"

setup: system venv profile

system:
	@bash scripts/install_system.sh

venv: system
	@bash scripts/setup_venv.sh

profile: venv
	@$(BIN)/aiida-hydrides setup --create-profile

demo: setup
	$(BIN)/aiida-hydrides demo

test: setup lint
	$(BIN)/python -m pytest -ra --durations=15 -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-fast: venv
	$(BIN)/python -m pytest -ra -m "not slow" -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

benchmarks: setup
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean-venv:
	rm -rf $(VENV)

.PHONY: docs lint

docs: venv
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
