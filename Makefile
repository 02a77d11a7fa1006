# wsbench — every target uses a local virtual environment that this Makefile creates.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= quick
# Test files run on this many worker processes (pytest-xdist); one file stays on one worker
# so its module-level fixtures are built once.
TEST_WORKERS ?= 2
STAMP  := $(VENV)/.wsbench-installed

.PHONY: help venv reproduce test test-fast lint bench gt clean

help:
	@echo "make reproduce [PROFILE=quick|full]   train + score the main job, print its first screen and the report's path"
	@echo "make test                             run the test suite"
	@echo "make test-fast                        the suite without the slow integration tests"
	@echo "make lint                             ruff (lint + format check), mypy and the import layers on harness, spaces, strategies"
	@echo "make bench                            pytest-benchmark suite of the hot paths (CPU shapes)"
	@echo "make gt                               ground-truth sources of NB201 and their agreement"

venv: $(STAMP)

# The CPU build of torch is installed first on machines without an NVIDIA GPU, so the
# torch requirement below is already satisfied and pip never pulls the multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	if ! command -v nvidia-smi >/dev/null 2>&1; then \
	  $(PY) -m pip install -q "torch==2.13.0" || $(PY) -m pip install -q "torch>=2.2,<2.15"; fi
	$(PY) -m pip install -q -e ".[test]"
	# The NB201 authors' reference networks, for the equivalence tests: xautodl pins an old numpy
	# it does not need for them, so it goes in without its dependencies.
	$(PY) -m pip install -q --no-deps "xautodl==1.0.0"
	touch $(STAMP)

reproduce: $(STAMP)
	$(VENV)/bin/wsbench reproduce --profile $(PROFILE)

test: $(STAMP)
	@start=$$(date +%s); $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15; rc=$$?; \
	  echo "make test: $$(( $$(date +%s) - start )) s (exit $$rc)"; exit $$rc

test-fast: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) -m pytest -q tests/bench --benchmark-enable --benchmark-only

gt: $(STAMP)
	$(VENV)/bin/wsbench gt nb201

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
