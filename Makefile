# vlmrate: `make demo` runs the tiny-model demo, `make test` runs every check.
# Both build .venv from scratch on a fresh clone (CPU build of vLLM; no GPU needed).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test test-fast demo bench lint clean

$(STAMP): pyproject.toml tools/repair_torchvision.py
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[cpu,dev]'
	$(PY) tools/repair_torchvision.py
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench tools

test: lint
	$(VENV)/bin/pytest -q

# the edit loop: everything but tests/e2e (no vLLM engine, no real servers, no kills),
# spread over the machine's cores (pytest-xdist)
test-fast: $(STAMP)
	$(VENV)/bin/pytest -q -m "not e2e" -n auto

demo: $(STAMP)
	$(VENV)/bin/vlmrate demo

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
