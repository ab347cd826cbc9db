# The two commands a newcomer needs: `make demo` and `make test`. Each creates the virtual
# environment and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test system-deps venv bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,bench]'
	touch $@

venv: $(BIN)/.installed

system-deps:
	ICEFLOE_WITH_BROWSER=$(if $(CI),1,$(ICEFLOE_WITH_BROWSER)) scripts/system-deps.sh

demo: system-deps venv
	$(BIN)/icefloe demo

test: system-deps venv
	$(BIN)/pytest -q

bench: system-deps venv
	$(BIN)/python bench/run_all.py --quick

clean:
	rm -rf $(VENV) demo-work .pytest_cache
