# The two commands of the README: `make book` (the main job) and `make test`.
# Each bootstraps .venv itself from pyproject.toml + constraints.txt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PRESET ?= quick
STAMP  := $(VENV)/.installed

.PHONY: book site test test-fast lint lab tensorboard release i18n check-editions browser bench benchmarks-doc matrix clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

## make book [PRESET=quick|full]: execute every chapter's solution, grade it, write build/
book: $(STAMP)
	TFBOOK_PRESET=$(PRESET) $(BIN)/tfbook book

# The site's generator (pyproject.toml's `site` extra: Sphinx, MyST-NB, sphinx-book-theme)
SITE_STAMP := $(VENV)/.installed-site
$(SITE_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[site]'
	touch $@

## make site: the book as a static website in build/site/ (English, and Korean where i18n/ko/ translates
## a chapter), made from `make book`'s executed notebooks in build/ (nothing is executed again)
site: $(SITE_STAMP)
	$(BIN)/python -m booktools.site

## make test [TEST_JOBS=N]: the import contracts, then the whole test suite (installs what it needs,
## Chromium included) in TEST_JOBS pytest-xdist workers (default 4 on the CI machine's 2 cores: many
## tests wait on a kernel, a server or a time limit, so extra workers keep both cores busy; measured
## on 2026-12-03, quiet machine: make test-fast 2:07.8 with 3 workers, 1:57.8 with 4, 2:04.3 with 5;
## the whole suite 11:41 of pytest with 4 workers, CPU 184%); the tests that must share a worker or
## run in order say so (tests/conftest.py, xdist_group)
TEST_JOBS ?= 4
XDIST := -n $(TEST_JOBS) --dist loadgroup
test: $(STAMP) $(SITE_STAMP) browser lint
	$(BIN)/python -m pytest $(XDIST)

## make test-fast: everything except the slow (training, whole notebooks) and browser tests
test-fast: $(STAMP) lint
	$(BIN)/python -m pytest $(XDIST) -m "not slow and not browser" -p no:nbmake -o addopts="-ra -p no:cacheprovider"

## make lint: the layers' import contracts (pyproject.toml, [tool.importlinter]), then ruff's check and its
## formatter (in --check mode) over the library, checks, applications, service, tools, benches and tests
## ([tool.ruff]); the chapters keep their own layout. `ruff format <paths>` applies the layout.
LINTED := tfbook checks booktools cloudlog tools bench tests
lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

## make lab: JupyterLab on the book (.py chapters open as notebooks through jupytext)
# JupyterLab refuses to start as root (containers, cloud VMs) unless told it may.
# %tensorboard's frame goes through the Jupyter server (jupyter-server-proxy), so it also
# works when Jupyter runs on another machine or in a container.
ALLOW_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
lab: $(STAMP)
	TENSORBOARD_PROXY_URL=/proxy/%PORT%/ $(BIN)/jupyter lab --notebook-dir=. $(ALLOW_ROOT)

## make tensorboard [PORT=N]: TensorBoard on every chapter's logs (runs/); runs are named by their path
## below runs/ (ch01/logs/1st). Without PORT: 6006, or the next free port when 6006 is taken (it prints the address)
PORT ?=
tensorboard: $(STAMP)
	$(BIN)/tensorboard --logdir runs --port $(or $(PORT),default)

## make release: regenerate chapters/ (student edition) and every .ipynb pair from solutions/, and the
## message catalogues (make i18n)
release: $(STAMP) i18n
	$(BIN)/tfbook release

## make i18n: extract the learner-facing messages (babel.cfg) and bring tfbook/locale/LANG/LC_MESSAGES/tfbook.po
## up to date (new messages untranslated, changed ones fuzzy), then compile each .mo; lists what is left to translate
i18n: $(STAMP)
	$(BIN)/python -m booktools.messages

## make browser: Debian's Chromium for the browser tests (Playwright drives it; no browser download), and a
## Korean font for the site's Korean pages
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "WARNING: could not install chromium; the browser test will be skipped with a reason"; }
	@fc-list :lang=ko 2>/dev/null | grep -q . || { \
	  echo "Installing a Korean font (Debian's fonts-nanum): the site's Korean pages in the browser test's screenshots"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-nanum >/dev/null) \
	  || echo "WARNING: could not install fonts-nanum; Korean text shows as boxes in screenshots"; }

## make bench: the benchmarks quoted in the README (bench_cnn's full part takes ~30 min on 2 cores, its limits part ~10)
bench: $(STAMP)
	$(BIN)/python -m bench.bench_ch01
	$(BIN)/python -m bench.bench_predict
	$(BIN)/python -m bench.bench_cloudlog
	$(BIN)/python -m bench.bench_ch02
	$(BIN)/python -m bench.bench_cnn
	$(BIN)/python -m bench.bench_cnn --part limits

## make benchmarks-doc: docs/benchmarks.md from the benches' records (each bench writes bench/results/<name>.json
## when it runs: command, date, machine, load, transcript, figures) and the prose of bench/benchmarks.md.in
benchmarks-doc: $(STAMP)
	$(BIN)/python -m bench.report

## make matrix [CELLS=3.11:2.18,3.13:2.21] [STEPS=import,ch03]: the supported range (docs/compatibility.md).
## For each cell in turn (Python:TensorFlow; default both ends and a middle), a fresh venv in build/matrix/
## with pip's own pick in pyproject.toml's ranges (not constraints.txt), the fast test lane, chapters 03 and
## 04's solutions graded from a `tfbook start` folder; one table row per cell. 8-10 min a cell on 2 cores.
## Needs no .venv; run it after `make book` or `make test` (MNIST in data/mnist/)
CELLS ?=
STEPS ?=
matrix:
	$(PYTHON) tools/matrix.py $(if $(CELLS),--cells $(CELLS)) $(if $(STEPS),--steps $(STEPS))

clean:
	rm -rf build runs
