# vlmrate: `make demo` runs the tiny-model demo, `make test` runs every check.
# Both build .venv from scratch on a fresh clone (CPU build of vLLM; no GPU needed).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test test-fast demo bench lint clean system-deps

$(STAMP): pyproject.toml tools/repair_torchvision.py
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (set PYTHON=...)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[cpu,dev]'
	$(PY) tools/repair_torchvision.py
	touch $(STAMP)

# Debian packages the browser check of the HTML report needs (headless Chromium, and
# pdftoppm for the figure PDFs); installed once, as root, skipped when present.
SYSTEM_PACKAGES := chromium poppler-utils fonts-dejavu-core
system-deps:
	@if command -v chromium >/dev/null && command -v pdftoppm >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $(SYSTEM_PACKAGES); \
	else echo "make: chromium/pdftoppm missing and not root: apt-get install" \
	  "$(SYSTEM_PACKAGES) (the report's browser test skips without them)"; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench tools

test: lint system-deps
	$(VENV)/bin/pytest -q

# the edit loop: everything but tests/e2e (no vLLM engine, no real servers, no kills),
# on one pytest-xdist worker more than there are cores (a Pilot test, a fake server's
# retry wait spend part of their time asleep; more workers than that cost more CPU than
# they hide: on 2 cores 3 workers are the fastest, ~60 s; 4 took ~7% longer, 2 ~10%),
# with bytecode caching on (a PYTHONDONTWRITEBYTECODE=1 environment otherwise recompiles
# the sources and re-rewrites the test modules' asserts in every worker), and tests that
# share a costly fixture or import in one xdist_group run on one worker (--dist loadgroup;
# ungrouped tests are spread as with -n alone). tests/conftest.py tunes the workers
# (threads, garbage collector), groups the tests, and starts the ones marked long first.
test-fast: $(STAMP)
	env -u PYTHONDONTWRITEBYTECODE $(VENV)/bin/pytest -q -m "not e2e" -n $$(( $$(nproc) + 1 )) --dist loadgroup

demo: $(STAMP)
	$(VENV)/bin/vlmrate demo

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
