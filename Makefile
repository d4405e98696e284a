# The two commands a newcomer runs:  make demo   and   make test
# Both create/reuse .venv, install torch==2.13.0 first (the CPU wheel; nothing may upgrade it),
# then mlpose with its dev extras. Re-running is cheap: the install re-runs only when pyproject.toml changes.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mlpose-installed
DEMO_DATA ?= data/synth
# --amp (bf16 autocast) only where the CPU has oneDNN's bf16 kernels (AVX-512 and newer): on an AVX2-only
# CPU bf16 convolutions fall back to reference kernels, several times slower than fp32 (measured: the tiny
# recipe's step 5.6x slower). Evaluated when the demo runs, after the install.
DEMO_AMP = $(shell $(PY) -c "from mlpose.runtime.launch import cpu_has_native_bf16 as ok; print('--amp' if ok() else '')" 2>/dev/null)
DEMO_ARGS ?= $(DEMO_AMP) --show-dir pics --interval 10
# two pytest-xdist workers: on 2 cores the suite runs in about half the wall time (subprocess starts,
# servers and I/O overlap the other worker's compute); every test keeps its own stores, ports and databases
PYTEST_ARGS ?= -n 2

.PHONY: demo test install data clean-demo

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	@$(PY) -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	@touch $(STAMP)

data: $(STAMP)
	@test -f $(DEMO_DATA)/annotations/person_keypoints_val.json || \
		$(VENV)/bin/mlpose data synth $(DEMO_DATA) --num-train 1500 --num-val 100 --image-size 256x256 --difficulty simple

# Train the tiny recipe on generated data, evaluate it, log everything to MLflow (sqlite:///mlflow.db).
demo: data
	$(VENV)/bin/mlpose train tiny $(DEMO_ARGS)

# docker-compose (v1, Debian) only validates docker-compose.yml; chromium (Debian's) is the browser of the
# MLflow UI test (Playwright drives it, no browser download). Both are installed when apt is usable as root.
test: $(STAMP)
	@command -v docker-compose >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends docker-compose >/dev/null 2>&1)) ; } || \
		echo "docker-compose not installed: the compose validation test will be skipped"
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1)) ; } || \
		echo "chromium not installed: the MLflow UI browser test will be skipped"
	$(PY) -m pytest $(PYTEST_ARGS)

clean-demo:
	rm -rf $(DEMO_DATA) work_dirs/tiny mlflow.db mlartifacts
