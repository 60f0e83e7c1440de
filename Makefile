PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint install clean ui

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cantata demo

test: $(STAMP)
	$(BIN)/pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/audience.py
	$(BIN)/python bench/canvas.py
	$(BIN)/python bench/send.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The web UI (needs Node.js and npm): builds ui/ into src/cantata/server/static/ui/.
ui:
	cd ui && npm ci && npm run build

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
