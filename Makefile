# Health & Fitness Analytics: the two set-up commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The C modules of large imports (setup.py): the reader of Apple Health exports and the encoder of
# COPY rows. Without a C compiler they are skipped with a warning and Python does their work, more
# slowly.
EXT_SUFFIX := $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
MODULES := imports/parsers/_apple_health$(EXT_SUFFIX) healthdata/_rows$(EXT_SUFFIX)
READY := $(STAMP) $(MODULES)
export DJANGO_SETTINGS_MODULE := config.settings

.PHONY: help run test lint fmt migrate worker beat web demo bench bench-data bench-import bench-sync bench-load install clean

help:
	@echo "make run      start web, worker and beat with demo data on http://127.0.0.1:8000"
	@echo "make test     run the whole test suite"
	@echo "make lint     ruff check, ruff format --check, makemigrations --check, bandit"
	@echo "make fmt      format and fix the code"
	@echo "make migrate  apply database migrations"
	@echo "make worker   start a Celery worker on all queues"
	@echo "make bench    run every benchmark"

$(STAMP): requirements/base.txt requirements/prod.txt requirements/dev.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $(STAMP)

$(MODULES) &: imports/parsers/_apple_health.c healthdata/_rows.c setup.py $(STAMP)
	$(PY) setup.py --quiet build_ext --inplace --force

install: $(READY)

migrate: $(READY)
	$(PY) manage.py migrate --no-input

demo: migrate
	$(PY) manage.py seed_demo

run: demo
	$(PY) manage.py collectstatic --no-input -v 0
	@echo "Serving on http://127.0.0.1:8000 (web, worker and beat). Ctrl-C stops all three."
	$(VENV)/bin/honcho -f Procfile.embedded start

web: $(READY)
	$(PY) manage.py runserver 127.0.0.1:8000

worker: $(READY)
	$(VENV)/bin/celery -A config worker -Q imports,sync,default --loglevel INFO

beat: $(READY)
	$(VENV)/bin/celery -A config beat --loglevel INFO

test: $(READY)
	$(VENV)/bin/pytest

lint: $(READY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/bandit --quiet --recursive . --exclude ./.venv,./tests,./var --severity-level medium

fmt: $(READY)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: bench-data bench-import bench-sync bench-load

# Needs DATABASE_URL pointing at PostgreSQL; fills the records table to 20 million rows once.
bench-data: $(READY)
	$(PY) bench/bench_data.py

clean:
	rm -rf $(VENV) var .pytest_cache

# Needs DATABASE_URL (PostgreSQL) and a broker; a 1,000,000-record Apple Health export through
# upload → Celery worker → ingestion, next to the bare parse rate of the same file.
bench-import: $(READY)
	$(PY) bench/bench_import.py --records 1000000

# A 365-day backfill of all five providers against the sandbox on a live test server: wall time,
# requests per provider and endpoint, records/s (run it with DATABASE_URL on PostgreSQL).
bench-sync: $(READY)
	$(VENV)/bin/pytest bench/bench_sync.py -q -s -p no:cacheprovider

# Needs DATABASE_URL (PostgreSQL; its 50 users with a year of data each are kept between runs) and
# REDIS_URL: gunicorn with the production settings under (a) 50 users browsing for 60 s, then (b) the
# summary and aggregate endpoints at 16 connections with wrk (apt-get installs it when missing).
bench-load: $(READY)
	$(PY) bench/bench_load.py
