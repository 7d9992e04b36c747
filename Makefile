# Anchor for Splunk. `make demo` and `make test` are the two commands a newcomer needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/lib

.PHONY: venv demo test test-slow lint format clean package inspect bench bench-quick browser fuzz eval eval-quick

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

format: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# In parallel on every core; the tests marked slow run once, in CI (`make test-slow`).
# loadgroup: a module marked xdist_group runs on one worker (its module fixtures made once).
test: venv lint browser
	$(PY) -m pytest -n auto --dist loadgroup -m "not slow"

test-slow: venv
	$(PY) -m pytest -m slow

# The tests marked fuzz (tests/test_fuzz.py and the property tests of the SPL guard and the
# engine's fast paths) with the larger budget the normal suite does not spend on them.
FUZZ_EXAMPLES ?= 2000
fuzz: venv
	ANCHOR_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -m fuzz -p no:cacheprovider tests

# Debian's chromium for the HTML report test (skipped without it, except in CI).
browser:
	@command -v chromium >/dev/null 2>&1 \
		|| apt-get install -y -qq chromium >/dev/null 2>&1 \
		|| (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed: the browser test will be skipped"

demo: venv
	$(PY) tools/demo.py

VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' lib/anchor/__init__.py)
PACKAGE := dist/anchor-$(VERSION).tgz
INSPECT_PYTHON ?= python3

package: venv
	$(PY) tools/package.py --out dist

.venv-inspect/.installed: requirements-inspect.txt
	@python3 -c 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("magic") else 1)' \
		|| (apt-get update -qq && apt-get install -y -qq libmagic1)
	$(INSPECT_PYTHON) -m venv .venv-inspect
	.venv-inspect/bin/pip install --quiet --disable-pip-version-check -r requirements-inspect.txt
	touch $@

inspect: package .venv-inspect/.installed
	$(PY) tools/inspect_package.py $(PACKAGE) .venv-inspect/bin

bench: venv
	$(PY) bench/patterns_loghub.py
	$(PY) bench/engine.py
	$(PY) bench/protocol.py
	$(PY) bench/split.py
	$(PY) bench/kvstore_scale.py
	$(PY) bench/recorded.py

bench-quick: venv
	$(PY) bench/patterns_loghub.py --repeat 1 --datasets HDFS,Apache
	$(PY) bench/engine.py --quick
	$(PY) bench/protocol.py --quick
	$(PY) bench/split.py --quick
	$(PY) bench/kvstore_scale.py --quick

# The scenario suite (eval/): held-out seeds, Anchor and the peer detector scored side by side.
eval: venv
	$(PY) eval/run.py

eval-quick: venv
	$(PY) eval/run.py --quick

clean:
	rm -rf build dist .pytest_cache .ruff_cache .mypy_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
