# mailstack — every target does its own set-up on a fresh Debian machine (run as root).
#   make demo   the main job: build lab images, bring the default lab up, show it, take it down
#   make test   every test: lint, unit tests, then the lab end to end on a real Docker engine
#   make bench  the standard bench set on a bench lab; results in bench-results/
#   make chaos  every fault scenario under load on a lab of its own; results in bench-results/
#   make soak   30 min at 70 % of the measured peak on a lab of its own; results in bench-results/
#   make fleet  rolling update and an MX killed, under load, on a fleet lab; results in bench-results/
#   make lint   ruff, mypy, yamllint, ansible-lint

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml 2>/dev/null | sha256sum | cut -c1-12)
KEEP ?=
PYTEST_ARGS ?=

.PHONY: all demo test test-unit test-lab lint engine venv clean lab-down bench chaos soak fleet

all: test

venv: $(STAMP)

# The venv is rebuilt when pyproject.toml changes (the stamp names its hash).
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (apt-get install -y python3 python3-venv)"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then apt-get update -qq && apt-get install -y -qq python3-venv; \
	  else echo "error: python3-venv is missing (apt-get install -y python3-venv)"; exit 1; fi; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

# Starts dockerd (installing docker.io) when no engine answers.
engine: venv
	$(BIN)/mailstack engine

demo: engine
	$(BIN)/mailstack demo $(if $(KEEP),--keep)

# The standard set: generator ceiling, stack vs smtp-source, submission into Maildir, time to
# mailbox at half the peak rate, and Debian's default Postfix as the reference, all in one run;
# then five timed idempotent re-runs of the converge (bench-results/converge.json).
bench: engine
	$(BIN)/mailstack lab up --lab bench --topology harness/lab/bench-topology.yml
	$(BIN)/mailstack converge --lab bench
	$(BIN)/mailstack bench standard --lab bench --out bench-results/standard.json \
	  && $(BIN)/mailstack converge --lab bench --timed-reruns 5 --json > bench-results/converge.json; \
	  rc=$$?; [ -n "$(KEEP)" ] || $(BIN)/mailstack lab down --lab bench; exit $$rc

# Every chaos scenario (faults under steady load; every accepted message must be delivered) on
# the default topology in a lab named chaos; bench-results/chaos.json, .html and .md.
chaos: engine
	$(BIN)/mailstack lab up --lab chaos
	$(BIN)/mailstack converge --lab chaos
	$(BIN)/mailstack chaos run --lab chaos --out bench-results/chaos.json; \
	  rc=$$?; [ -n "$(KEEP)" ] || $(BIN)/mailstack lab down --lab chaos; exit $$rc

# 30 minutes at 70 % of the measured peak, in 5-minute windows; bench-results/soak.json, .html, .md
soak: engine
	$(BIN)/mailstack lab up --lab soak
	$(BIN)/mailstack converge --lab soak
	$(BIN)/mailstack soak --lab soak --out bench-results/soak.json; \
	  rc=$$?; [ -n "$(KEEP)" ] || $(BIN)/mailstack lab down --lab soak; exit $$rc

# The shipped fleet (2 MX, backend, submission/outbound): converged cold and warm (timed), then
# playbooks/rolling.yml and an MX killed hard, each under 20 msg/s through both MX;
# bench-results/fleet.json, .html and .md.
fleet: engine
	$(BIN)/mailstack lab up --lab fleet --topology harness/lab/fleet-topology.yml
	$(BIN)/mailstack converge --lab fleet
	mkdir -p bench-results
	$(BIN)/mailstack converge --lab fleet --timed-reruns 2 --json > bench-results/fleet-converge.json \
	  && $(BIN)/mailstack fleet run --lab fleet --rate 20 --seconds 180 --fault-at 20 --down-for 30 \
	       --out bench-results/fleet.json; \
	  rc=$$?; [ -n "$(KEEP)" ] || $(BIN)/mailstack lab down --lab fleet; exit $$rc

lint: venv
	$(BIN)/ruff check harness tests roles
	$(BIN)/ruff format --check harness tests roles
	$(BIN)/mypy
	$(BIN)/mypy roles/*/filter_plugins
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --offline --profile production

test-unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-lab: engine
	$(BIN)/pytest tests/lab $(PYTEST_ARGS)

test: lint engine
	$(BIN)/pytest tests/unit tests/lab --durations=30 $(PYTEST_ARGS)

lab-down: venv
	$(BIN)/mailstack lab down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
