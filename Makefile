# neurochip — common tasks. Every generated artefact is reproducible from one target.
PYTHON ?= python
MODEL  ?= models/ste-bp-mnist-default.npz
DATA   ?= ../shared/datasets/mnist
DATA_ROOT ?= ../shared/datasets
RTL_DIR ?= rtl

.PHONY: help install test simulate inspect rtl verify bench models docs clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

install:  ## editable install with every extra
	$(PYTHON) -m pip install -e '.[dev,verify,train]'

test:  ## the whole suite (what CI runs)
	$(PYTHON) -m pytest

simulate:  ## the default model on the shipped MNIST sample
	neurochip simulate $(MODEL)

inspect:  ## layers, synapses and memory of the default model
	neurochip inspect $(MODEL)

rtl:  ## Verilog of $(MODEL) into $(RTL_DIR)/, linted with verilator -Wall
	neurochip rtl $(MODEL) -o $(RTL_DIR) --lint

verify:  ## co-simulate $(MODEL) on Verilator against the simulator (256 sample images)
	neurochip verify $(MODEL) --images 256 --simulator verilator --jobs 2

bench:  ## simulator vs NumPy reference, snnTorch, Brian2, Verilator + scaling sweep (QUICK=1: CI-sized, 1-2 min)
	$(PYTHON) -m bench.run $(if $(QUICK),--quick) $(BENCH_ARGS)

models:  ## rebuild all 18 shipped models from models/recipes.py (needs torch and $(DATA_ROOT); QUICK=1: a tiny slice into a temp folder, checks each loads and simulates, ~2 min)
	$(PYTHON) models/recipes.py --data-root $(DATA_ROOT) $(if $(QUICK),--quick) $(MODELS)

docs:  ## regenerate the generated tables in docs/
	$(PYTHON) -m neurochip.docs

clean:  ## remove build folders and caches
	rm -rf build sim_build .pytest_cache .hypothesis .numba_cache
