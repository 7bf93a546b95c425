# The course's commands. Every target sets up .venv from requirements.txt first if needed.
#   make book      execute every notebook and build the website into _build/html
#   make test      build the book, then run the whole test suite (what CI runs)
#   make lab       open JupyterLab on the notebooks with the course environment
#   make bench     time every notebook (wall time, peak memory, asserted figures)
#   make homework  generate student notebooks and autograders into _build/homework
#   make grade ASSIGNMENT=<name> SUBMISSIONS=<folder>   grade a class
#   make serve     preview the built site on http://localhost:8000

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export MPLBACKEND ?= Agg
export PYTHONHASHSEED := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup book test unit lab bench homework grade serve clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course)"
	@touch $(STAMP)

book: setup
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going --builder html

# The suite executes the notebooks on the CPU (through the book build), whatever the machine has.
test: export LECTURES_DEVICE = cpu
test: book
	$(BIN)/python -m pytest tests

unit: setup
	$(BIN)/python -m pytest tests -m "not slow and not browser"

lab: setup
	$(BIN)/jupyter lab notebooks

bench: setup
	$(BIN)/python scripts/bench.py

clean:
	rm -rf _build
