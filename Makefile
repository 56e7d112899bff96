# The two entry points: `make demo` (the main job on built-in data) and `make test`.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

LCE_VENV := .venv-lce
LCE_PINS := larq-compute-engine==0.16.0 tensorflow-cpu==2.16.2 tf-keras==2.16.0 larq==0.14.0 "numpy<2"

.PHONY: demo demo-kws kws-tools test test-all test-peers bench clean

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) (set PY=...)"; exit 2; }
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml requirements-lock.txt
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-lock.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

# The keyword-spotting demo synthesises its dataset with espeak-ng and flite (Debian packages):
# installed here when missing and we are root (as on CI), else a clear message.
KWS_TOOLS := espeak-ng flite sox
kws-tools:
	@missing=""; for t in $(KWS_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	  else echo "make demo-kws needs:$$missing (Debian: sudo apt-get install$$missing)"; exit 2; fi; \
	fi

demo-kws: $(STAMP) kws-tools
	$(BIN)/python examples/demo_kws.py

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m "not slow and not peers"

# Opt-in: peer engines that cannot share picoml's environment (LCE 0.16 needs TF 2.16 and numpy<2)
# get their own venv; tests hand them models through files (picoml/testing/lce_peer.py).
$(LCE_VENV)/.installed:
	$(PY) -m venv $(LCE_VENV)
	$(LCE_VENV)/bin/pip install --quiet $(LCE_PINS)
	touch $@

test-peers: $(STAMP) $(LCE_VENV)/.installed
	LCE_PYTHON=$(CURDIR)/$(LCE_VENV)/bin/python TF_USE_LEGACY_KERAS=1 $(BIN)/python -m pytest -q -m peers

test-all: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

bench: $(STAMP)
	$(BIN)/python benchmarks/reference_speed.py

clean:
	rm -rf $(VENV) $(LCE_VENV) build *.egg-info .pytest_cache
