# recip_acme: one entry point for a fresh machine. `make run` and `make test` install
# what they need first (idempotent: a stamp file records the installed lock file).
#
#   make run                    install, then train Reciprocators on the defaults
#   make test                   install, then run the test suite
#   make assets MELTINGPOT_ASSETS=/path/to/meltingpot-assets-2.3.0.tar.gz
#                               (re)install Melting Pot with its background bots
#   make bench                  run the benchmark scripts
#   make lock                   re-resolve requirements/base.txt into requirements/lock.txt

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip --disable-pip-version-check
STAMP := $(VENV)/.recip_acme_installed
MELTINGPOT_ASSETS ?=
# Seconds allowed for the Melting Pot asset download before installing without bots.
ASSETS_TIMEOUT ?= 600
# 1: install Ray (requirements/ray.txt), the engine of --num_actors > 1; 0: skip it.
WITH_RAY ?= 1
PYTEST_ARGS ?=
RUN_ARGS ?=

.PHONY: install run test assets bench lock clean

install: $(STAMP)

$(STAMP): requirements/lock.txt requirements/ray.txt setup.py launch/setup_meltingpot.py
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; recip_acme needs Python 3.11 (set PYTHON=...)" >&2; exit 2; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "error: $(PYTHON) is not Python 3.11" >&2; exit 2; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet -r requirements/lock.txt
	$(if $(filter 1,$(WITH_RAY)),$(PIP) install --quiet -r requirements/ray.txt)
	$(PIP) install --quiet --no-deps dm-acme==0.4.0
	$(PY) -m launch.setup_meltingpot --pip "$(VENV)/bin/pip" --timeout $(ASSETS_TIMEOUT) $(if $(MELTINGPOT_ASSETS),--archive "$(MELTINGPOT_ASSETS)")
	$(PIP) install --quiet --no-deps -e .
	$(PY) -c "import recip_acme, acme, reverb, meltingpot; print('recip_acme: stack installed')"
	@touch $(STAMP)

assets: install
	$(PY) -m launch.setup_meltingpot --pip "$(VENV)/bin/pip" --timeout $(ASSETS_TIMEOUT) $(if $(MELTINGPOT_ASSETS),--archive "$(MELTINGPOT_ASSETS)")

run: install
	$(PY) -m launch.train $(RUN_ARGS)

test: install
	$(PY) -m pytest tests -q $(PYTEST_ARGS)

bench: install
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b; done

lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet -r requirements/base.txt
	{ echo "# Full resolved set for Python 3.11 (pip freeze of requirements/base.txt). Regenerate: make lock"; \
	  echo "# dm-acme==0.4.0 (--no-deps) and dm-meltingpot==2.4.1 (launch/setup_meltingpot.py) are installed separately."; \
	  .lockenv/bin/pip freeze | grep -vE '^(dm-acme|dm-meltingpot)=='; } > requirements/lock.txt
	rm -rf .lockenv

clean:
	rm -rf $(VENV) build *.egg-info
