# The two commands of the README. Each creates its own virtual environment (.venv).
PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test clean

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# the main job on the embedded default: a synthetic case world, loaded, analysed, written to out/demo
demo: $(STAMP)
	$(VENV)/bin/chaingraph demo --out out/demo

# the test suite, with a real Neo4j (fetched from Maven Central) and headless Chromium
test: $(STAMP)
	scripts/neo4j-test-server build
	scripts/install-browser
	$(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) out tests/neo4j/target
