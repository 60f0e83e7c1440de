PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

UI_BUILT := src/cantata/server/static/ui/index.html
UI_SOURCES := $(wildcard ui/src/*) ui/index.html ui/package-lock.json ui/vite.config.ts

.PHONY: demo test bench lint install clean ui

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cantata demo

# The UI is built first when npm is there: its unit and browser tests run with the rest.
test: $(STAMP)
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(UI_BUILT); \
	else echo "npm not found: the UI is not built, its tests are skipped"; fi
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
ui: $(UI_BUILT)

$(UI_BUILT): $(UI_SOURCES)
	cd ui && npm ci && npm run build

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
