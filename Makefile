# VillageGrid: `make run` serves the app on SQLite; `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
PIP := $(VENV)/bin/pip --disable-pip-version-check -q
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_DB := $(CURDIR)/instance/demo.db

.PHONY: run demo test bench system system-test system-dist venv venv-dev deps clean dist dist-test

# The Debian packages: checked every time (fast), installed only when missing.
system:
	@scripts/system-deps.sh || echo "警告：缺少系统软件包，PDF 可能无法正常生成（见上）。"

system-test:
	@scripts/system-deps.sh --test

system-dist:
	@scripts/system-deps.sh --dist

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# requirements*.txt pin every package, transitive ones included, with their hashes.
$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PIP) install --require-hashes -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt | $(VENV)/bin/python
	$(PIP) install --require-hashes -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

# After changing requirements*.in: compile the hashed pins again (pip-tools in a venv of its own).
deps:
	python3 -m venv .venv-deps && .venv-deps/bin/pip --disable-pip-version-check -q install pip-tools==7.6.2
	for f in requirements requirements-dev requirements-dist; do \
	  .venv-deps/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-find-links \
	    --no-emit-index-url --no-emit-trusted-host -o $$f.txt $$f.in || exit 1; done

# The one-file release is built in a venv of its own, so `make test` never needs PyInstaller.
DIST_VENV := .venv-dist
$(DIST_VENV)/.dist: requirements-dist.txt
	test -x $(DIST_VENV)/bin/python || python3 -m venv $(DIST_VENV)
	$(DIST_VENV)/bin/pip --disable-pip-version-check -q install --require-hashes -r requirements-dist.txt
	@touch $@

venv: $(VENV)/.runtime
venv-dev: $(VENV)/.dev

run: system venv
	$(FLASK) db upgrade
	HOST=$(HOST) PORT=$(PORT) $(FLASK) serve

# A separate demo database, rebuilt each time; the passwords are printed.
demo: system venv
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	DATABASE_URL=sqlite:///$(DEMO_DB) $(FLASK) db upgrade
	DATABASE_URL=sqlite:///$(DEMO_DB) HOST=$(HOST) PORT=$(PORT) $(FLASK) demo-data
	DATABASE_URL=sqlite:///$(DEMO_DB) HOST=$(HOST) PORT=$(PORT) $(FLASK) serve

tests/e2e/node_modules/axe-core/axe.min.js: tests/e2e/package.json
	cd tests/e2e && npm install --no-audit --no-fund --silent
	@touch $@

test: system-test venv-dev tests/e2e/node_modules/axe-core/axe.min.js
	@scripts/run-tests.sh

bench: system venv-dev
	$(PY) -m bench

# dist/villagegrid-<version>-linux-x86_64: one file with Python, the libraries, Pango & co. and the fonts.
dist: system-dist $(DIST_VENV)/.dist
	DIST_VENV=$(DIST_VENV) scripts/dist/build.sh

# The file on a Debian minbase root with nothing installed (chroot; root kept in /var/cache/villagegrid-dist).
dist-test: system-dist venv-dev
	scripts/dist/test.sh

clean:
	rm -rf $(VENV) $(DIST_VENV) .pytest_cache build dist
