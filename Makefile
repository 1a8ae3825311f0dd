# The two commands of the README's Quick start: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
RIE := .cache/rie/aws-lambda-rie
STAMP := $(VENV)/.installed

.PHONY: run test test-pythons lint typecheck check unit e2e bench layer setup clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(RIE): | $(STAMP)
	$(PY) scripts/fetch_rie.py $@

setup: $(STAMP) $(RIE)

# `make run` needs only the runtime's own dependencies (pyproject's [project] dependencies: simplejson), in a venv of
# its own: seconds on a fresh machine, where the dev set of `make test` takes minutes (README "Quick start").
RUN_VENV := .cache/run-venv
RUN_STAMP := $(RUN_VENV)/.installed

$(RUN_STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("make run needs Python 3.11 or later, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(RUN_VENV)
	$(RUN_VENV)/bin/pip install --quiet --disable-pip-version-check \
		$$($(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"])')
	touch $@

run: $(RUN_STAMP)
	$(RUN_VENV)/bin/python -m emulator invoke app.handler --task-root examples/hello --event '{"name": "Ada"}' --log-level INFO

lint: $(STAMP)
	$(VENV)/bin/ruff check runtime emulator tests bench scripts deploy
	$(VENV)/bin/ruff format --check runtime emulator tests bench scripts deploy

typecheck: $(STAMP)
	$(VENV)/bin/mypy

check: lint typecheck

# Coverage of runtime/, the bootstrap processes the tests start included; below the floor, the run fails. Measured at
# 90% (2026-12-01, session 4); the watchdog thread (a bare _thread thread) is not traced by coverage.
COVERAGE_FLOOR := 85

test: setup check
	rm -rf .cache/coverage
	RIE_BINARY=$(CURDIR)/$(RIE) $(VENV)/bin/coverage run -m pytest
	$(VENV)/bin/coverage combine --quiet
	$(VENV)/bin/coverage report --fail-under=$(COVERAGE_FLOOR)

# The runtime's unit, e2e, RIE and web tests on Python 3.12 and 3.13 where this machine has them, and on Debian sid's
# 3.14 and 3.15 in a sid root (scripts/sid-root.sh; needs root, skipped without the Debian archive). CI runs it too.
test-pythons: setup
	bash scripts/other-pythons.sh

unit: $(STAMP)
	$(VENV)/bin/pytest tests/unit

e2e: $(STAMP)
	$(VENV)/bin/pytest tests/e2e

bench: setup
	$(PY) -m bench

# The Lambda layer for the managed Python runtimes (README "On the managed Python runtimes"), with .pyc files for
# each of python3.12, 3.13, 3.14 and 3.15 found here (3.14 and 3.15 from the sid root when it is built).
layer: $(STAMP)
	$(PY) scripts/build_layer.py dist/after-response-layer.zip \
		$(foreach v,3.12 3.13 3.14 3.15,$(if $(shell bash scripts/find-python.sh $(v)),--compile-with $(shell bash scripts/find-python.sh $(v))))

# The sid root's mounts live in a namespace of their own and end with it; `unmount` checks (findmnt) that none is left
# before anything under .cache is deleted through it.
clean:
	bash scripts/sid-root.sh unmount
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache dist
