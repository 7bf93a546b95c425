# The course's commands. Every target sets up .venv from requirements.txt first if needed.
#   make book      execute every notebook and build the website into _build/html
#   make test      build the book, then run the whole test suite (what CI runs)
#   make lab       open JupyterLab on the notebooks with the course environment
#   make bench     time every notebook (wall time, peak memory, asserted figures)
#   make seeds     re-run notebooks with training seeds 0..4 and tabulate every figure (book/seed_sweep.md)
#   make homework  generate student notebooks and autograders into _build/homework
#   make grade ASSIGNMENT=<name> SUBMISSIONS=<folder>   grade a class, each submission in a sandbox
#   make serve     preview the built site on http://localhost:8000
#   make pdf       print the built site into one PDF, _build/html/book.pdf (headless Chromium)
#   make browser   install Debian's headless Chromium for the website tests (if missing, as root)
#   make sandbox   install Debian's bubblewrap, the grading sandbox (if missing, as root)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PYTHONHASHSEED := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup book test unit lab bench seeds homework grade serve browser sandbox pdf clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course)"
	@touch $(STAMP)

# The website's JavaScript (MathJax, RequireJS, the widget manager) comes pinned from the npm registry
# into book/_static/vendor/ (scripts/site_assets.py; a no-op once there), so the site works offline.
book: setup
	$(BIN)/python scripts/site_assets.py
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going --builder html
	$(BIN)/python scripts/book_pdf.py --site _build/html --out _build/html/book.pdf --if-browser

# The suite executes the notebooks on the CPU (through the book build), whatever the machine has.
test: export LECTURES_DEVICE = cpu
test: browser sandbox book
	$(BIN)/python -m pytest tests

unit: setup
	$(BIN)/python -m pytest tests -m "not slow and not browser"

lab: setup
	$(BIN)/jupyter lab notebooks

bench: setup
	$(BIN)/python scripts/bench.py

# The seed sweep (scripts/seeds.py): long, outside CI. NOTEBOOKS="a.ipynb b.ipynb" to choose, SEEDS=N
# (default 5), DEVICE=cuda for a GPU, JOBS=N notebooks at once. Writes book/seed_sweep/<device>.json and
# regenerates the appendix page book/seed_sweep.md.
SEEDS  ?= 5
DEVICE ?= cpu
JOBS   ?= 1
seeds: setup
	$(BIN)/python scripts/seeds.py --seeds $(SEEDS) --device $(DEVICE) --jobs $(JOBS) $(NOTEBOOKS)

# The whole book as one PDF (scripts/book_pdf.py): Debian's headless Chromium prints the built site
# into _build/html/book.pdf (linked from every page), with math and Chinese fonts; no TeX, no downloads.
# `make book` already does this when Chromium is there; `make pdf` re-prints an existing site.
pdf: setup browser
	@test -f _build/html/index.html || { echo "no built site in _build/html: run make book first"; exit 1; }
	$(BIN)/python scripts/book_pdf.py --site _build/html --out _build/html/book.pdf

clean:
	rm -rf _build

# Headless Chromium for the website tests (tests/test_site.py): Debian's package, never a downloaded
# browser. Installed when missing if we are root (as on CI); otherwise it says what to run.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			chromium fonts-wqy-microhei; \
	else echo "tests/test_site.py needs Debian's Chromium: sudo apt-get install chromium fonts-wqy-microhei"; exit 1; fi

# Preview the built website (run `make book` first) on http://localhost:8000 (PORT=... to change).
PORT ?= 8000
serve:
	@test -f _build/html/index.html || { echo "no built site in _build/html: run make book first"; exit 1; }
	@echo "serving _build/html on http://localhost:$(PORT)/ (Ctrl+C to stop)"
	$(or $(wildcard $(BIN)/python),$(PYTHON)) -m http.server --directory _build/html --bind 127.0.0.1 $(PORT)

# Homework (scripts/homework.py; conventions in homework/README.md). The website copies of the student
# notebooks (book/homework/) are committed, so `make book` needs no generation step.
# The grading sandbox (scripts/homework.py): Debian's bubblewrap, installed when missing if we are root
# (as on CI); otherwise it says what to run. Needs Linux with user namespaces.
sandbox:
	@if command -v bwrap >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends bubblewrap; \
	else echo "grading runs each submission in a bubblewrap sandbox: sudo apt-get install bubblewrap" \
		"(Linux only; elsewhere grade in a Linux VM or container, see homework/README.md)"; exit 1; fi

homework: setup
	$(BIN)/python scripts/homework.py generate

# Grading runs students' code, so it refuses without the sandbox. UNSAFE_NO_SANDBOX=1 grades without it:
# only for notebooks you trust (your own solution); see book/homework_instructors.md.
grade: setup $(if $(UNSAFE_NO_SANDBOX),,sandbox)
	@test -n "$(ASSIGNMENT)" && test -n "$(SUBMISSIONS)" || \
		{ echo "usage: make grade ASSIGNMENT=<name> SUBMISSIONS=<folder> [UNSAFE_NO_SANDBOX=1]  (names: $$($(BIN)/python scripts/homework.py list | tr '\n' ' '))"; exit 2; }
	$(BIN)/python -I scripts/homework.py grade $(ASSIGNMENT) $(SUBMISSIONS) $(if $(UNSAFE_NO_SANDBOX),--unsafe-no-sandbox)
