# The two commands a newcomer needs: `make demo` and `make test`. Each creates the virtual
# environment and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test system-deps test-deps venv bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[standin,test,bench]'
	touch $@

venv: $(BIN)/.installed

# rsync, ssh, 7-Zip, xorriso: what the demo and the tests run.
system-deps:
	scripts/system-deps.sh

# The tests also look at the Prefect UI in headless Chromium.
test-deps:
	ICEFLOE_WITH_BROWSER=1 scripts/system-deps.sh

demo: system-deps venv
	$(BIN)/icefloe demo

test: test-deps venv
	$(BIN)/pytest -q

bench: system-deps venv
	for b in upload consolidate iso restore pipeline recovery; do $(BIN)/python bench/$$b.py --quick || exit 1; done

clean:
	rm -rf $(VENV) demo-work .pytest_cache
