# flowsteer build. Everything a fresh machine needs is installed here, at
# pinned versions, under .tools/ and .venv/ (both git-ignored).
#
#   make run    build and run the main job offline (embedded defaults)
#   make test   install what is missing and run every test

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
ROOT      := $(CURDIR)
TOOLS     := $(ROOT)/.tools
TOOLBIN   := $(TOOLS)/bin
VENV      := $(ROOT)/.venv
PY        := $(VENV)/bin/python
BUF_VERSION              := 1.75.0
PROTOC_GEN_GO_VERSION    := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
BUF       := $(TOOLS)/node/node_modules/.bin/buf
export PATH := $(TOOLBIN):$(PATH)
export GOFLAGS := -buildvcs=false

FUZZTIME ?= 10s
ADDR     ?= 127.0.0.1:50051

.PHONY: help
help:
	@echo "make run        train the embedded policy offline (CWRPO, simulated executor) and write a report"
	@echo "make demo       play one scripted episode on a canvas, turn by turn"
	@echo "make test       install tools, check generated code, lint, run all tests"
	@echo "make gen        regenerate gen/go and gen/python from proto/"
	@echo "make build      build bin/flowsteer"
	@echo "make fuzz       run each fuzz target for FUZZTIME ($(FUZZTIME))"

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
sysdeps:
	@if ! command -v bwrap >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing bubblewrap for the sandbox"; \
		(apt-get install -y -qq bubblewrap >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq bubblewrap >/dev/null 2>&1)) \
		|| echo "warning: bubblewrap could not be installed; the sandbox uses plain namespaces"; \
	fi

# ---- generated code --------------------------------------------------------

PROTOS := $(wildcard proto/flowsteer/v1/*.proto)

# gen-into DIR: generate Go and Python stubs under DIR/go and DIR/python.
define gen-into
	$(BUF) generate --template buf.gen.yaml -o $(1)/.. >/dev/null
	rm -rf $(1)/python && mkdir -p $(1)/python
	$(PY) -m grpc_tools.protoc -Iproto --python_out=$(1)/python --pyi_out=$(1)/python --grpc_python_out=$(1)/python $(PROTOS)
	touch $(1)/python/flowsteer/__init__.py $(1)/python/flowsteer/v1/__init__.py
endef

.PHONY: gen
gen: tools
	$(BUF) lint
	$(call gen-into,$(ROOT)/gen)

# gen-check regenerates into a scratch tree and fails when gen/ differs.
.PHONY: gen-check
gen-check: tools
	tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; mkdir -p $$tmp/gen; \
	$(BUF) generate --template buf.gen.yaml -o $$tmp >/dev/null; \
	mkdir -p $$tmp/gen/python; \
	$(PY) -m grpc_tools.protoc -Iproto --python_out=$$tmp/gen/python --pyi_out=$$tmp/gen/python --grpc_python_out=$$tmp/gen/python $(PROTOS); \
	touch $$tmp/gen/python/flowsteer/__init__.py $$tmp/gen/python/flowsteer/v1/__init__.py; \
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
test: tools sysdeps gen-check lint breaking test-go fuzz
	@echo "all tests passed"

.PHONY: test-go
test-go:
	$(GO) test -race -count=1 ./...

# Short runs of every fuzz target (go test takes one target per run).
FUZZ_TARGETS := ./internal/workflow:FuzzParse ./internal/action:FuzzParse
.PHONY: fuzz
fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$pkg $$fn for $(FUZZTIME)"; \
		$(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	done

# ---- run ---------------------------------------------------------------------

# The main job: train the embedded policy with CWRPO on the offline suite
# (simulated executor), evaluate before and after, write the HTML report.
.PHONY: run
run: build
	./bin/flowsteer train --runs-dir runs

.PHONY: demo
demo: build
	./bin/flowsteer demo

.PHONY: serve
serve: build
	./bin/flowsteer serve --addr $(ADDR)

.PHONY: clean
clean:
	rm -rf bin
