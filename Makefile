# mass_mailer: install, run, test, bench. Everything lands in .venv/ and .tools/ inside the repo.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
BUN := $(TOOLS)/node_modules/.bin/bun
BUN_VERSION := 1.4.4
PM2 := $(TOOLS)/node_modules/.bin/pm2
PM2_VERSION := 7.0.4
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false
export NPM_CONFIG_REGISTRY := https://registry.npmjs.org
export REFLEX_HTTP_CLIENT_BIND_ADDRESS := 0.0.0.0
export REFLEX_DIR := $(CURDIR)/$(TOOLS)/reflex
export BUN_INSTALL_CACHE_DIR := $(CURDIR)/$(TOOLS)/bun-cache
export REFLEX_BUN_PATH := $(CURDIR)/$(BUN)
export PATH := $(CURDIR)/$(TOOLS)/node_modules/.bin:$(PATH)

.PHONY: install run test bench frontend pm2 clean

install: $(VENV)/.installed $(BUN) .web/.built

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(BUN):
	mkdir -p $(TOOLS)
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) bun@$(BUN_VERSION)

# The built frontend: rebuilt when any Python file of the UI changes.
.web/.built: $(VENV)/.installed $(BUN) rxconfig.py $(shell find mass_mailer assets -name '*.py' -o -name '*.css' 2>/dev/null)
	$(VENV)/bin/reflex export --frontend-only --no-zip --loglevel warning
	touch $@

frontend: .web/.built

# PM2 for `pm2 start ecosystem.config.js` (and its test), from the npm registry into .tools/.
pm2: $(PM2)

$(PM2):
	mkdir -p $(TOOLS)
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) pm2@$(PM2_VERSION)

run: install
	$(PY) -m mass_mailer up

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: install
	$(PY) bench/run.py

clean:
	rm -rf .web $(TOOLS) $(VENV)
