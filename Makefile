# flow-auditor. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/auditor
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: help build test bench generate check-generated lint demo clean test-binaries

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/auditor (static, no cgo), exactly as the container image does
	VERSION=$(VERSION) hack/build-static.sh $(BIN)

test-binaries: ## build (or reuse the cached) kube-apiserver, kube-controller-manager, etcd and hubble CLI the tests run
	hack/kube-binaries.sh >/dev/null
	hack/hubble-cli.sh >/dev/null

test: test-binaries ## run the whole test suite (kernel tests need root)
	$(GO) test -count=1 -timeout 45m ./...

bench: ## run every benchmark and print the figures
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

generate: ## rebuild the eBPF objects with Debian's clang (bpf2go)
	$(GO) generate ./bpf/...

check-generated: ## fail if the committed eBPF objects differ from their sources
	hack/check-generated.sh

lint: ## go vet and a gofmt check
	$(GO) vet ./...
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

demo: ## the whole loop on this machine, as root: emulated cluster, real eBPF agent, attacks, policies, graph (DEMO_FLAGS=--enforce)
	@if [ "$$(id -u)" != 0 ]; then echo "make demo needs root (network namespaces, eBPF programs): sudo make demo" >&2; exit 2; fi
	@need=(); for pkg in iproute2 iptables; do dpkg -s "$$pkg" >/dev/null 2>&1 || need+=("$$pkg"); done; \
	  if (( $${#need[@]} )); then echo "demo: installing $${need[*]}"; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends "$${need[@]}" >/dev/null; fi
	@$(MAKE) --no-print-directory build
	$(BIN) demo --out demo-out $(DEMO_FLAGS)

clean: ## remove build output
	rm -rf bin demo-out
