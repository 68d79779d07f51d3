# appblocks: every install step lives here (a fresh machine has only Python, Node and make).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
DB ?= sqlite:///var/appblocks.db

VENDOR := ui/static/vendor

.PHONY: run test bench lint install install-test vendor clean

# Front-end packages are pinned in package.json/package-lock.json and copied, never committed.
$(VENDOR)/.copied: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/sortablejs/Sortable.min.js \
	   node_modules/echarts/dist/echarts.min.js $(VENDOR)/
	touch $@

vendor: $(VENDOR)/.copied

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(BIN)/activate pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed vendor
install-test: $(VENV)/.installed-test vendor

run: install
	mkdir -p var
	$(BIN)/appblocks blueprint import blueprints/srm --db $(DB) --with-data --if-new
	$(BIN)/appblocks blueprint import blueprints/crm --db $(DB) --with-data --if-new
	$(BIN)/appblocks serve --db $(DB) --demo

test: install-test
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: install-test
	command -v wrk >/dev/null || apt-get install -y wrk || echo "wrk is missing and apt-get could not install it: the API benchmark marks its figures missing"
	$(PY) bench/run.py

lint: install-test
	mkdir -p build/typecheck && ln -sfn ../../platform build/typecheck/appblocks
	$(BIN)/ruff check platform tests bench
	$(BIN)/ruff format --check platform tests bench
	MYPYPATH=build/typecheck $(BIN)/mypy -p appblocks

clean:
	rm -rf $(VENV) build var .pytest_cache node_modules $(VENDOR)
