# One-word entry points shared by humans and CI.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test lint run bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check logstore logwarden server shipper alerter logq tests bench examples
	$(VENV)/bin/ruff format --check logstore logwarden server shipper alerter logq tests bench examples
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -q

run: $(STAMP)
	$(PY) examples/demo.py

bench: $(STAMP)
	$(PY) bench/store.py
	$(PY) bench/shipper.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
