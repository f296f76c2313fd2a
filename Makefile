# The two commands of the README: `make book` (the main job) and `make test`.
# Each bootstraps .venv itself from pyproject.toml + constraints.txt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PRESET ?= quick
STAMP  := $(VENV)/.installed

.PHONY: book test lab release check-editions browser bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

## make book [PRESET=quick|full]: execute every chapter's solution, grade it, write build/
book: $(STAMP)
	TFBOOK_PRESET=$(PRESET) $(BIN)/tfbook book

## make test: the whole test suite (installs what it needs, Chromium included)
test: $(STAMP) browser
	$(BIN)/python -m pytest

## make lab: JupyterLab on the book (.py chapters open as notebooks through jupytext)
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=.

## make release: regenerate chapters/ (student edition) and every .ipynb pair from solutions/
release: $(STAMP)
	$(BIN)/tfbook release

## make browser: Debian's Chromium for the canvas browser test (Playwright drives it; no browser download)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "WARNING: could not install chromium; the browser test will be skipped with a reason"; }

## make bench: the benchmarks quoted in the README (bench_cnn's full part takes ~30 min on 2 cores)
bench: $(STAMP)
	$(BIN)/python -m bench.bench_predict
	$(BIN)/python -m bench.bench_cloudlog
	$(BIN)/python -m bench.bench_cnn

clean:
	rm -rf build runs
