# flow-auditor. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin/auditor
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/flow-auditor/flow-auditor/internal/buildinfo.version=$(VERSION)
# Packages whose tests need the real kube-apiserver and etcd.
KUBE_BINARIES := hack/kube-binaries.sh

.PHONY: help build test bench generate check-generated lint demo clean kube-binaries

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/auditor (static, no cgo)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/auditor

kube-binaries: ## build (or reuse the cached) kube-apiserver and etcd for the integration tests
	@if [ -x $(KUBE_BINARIES) ]; then $(KUBE_BINARIES); fi

test: kube-binaries ## run the whole test suite (kernel tests need root)
	$(GO) test -count=1 -timeout 45m ./...

bench: ## run every benchmark and print the figures
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

generate: ## rebuild the eBPF objects with Debian's clang (bpf2go)
	$(GO) generate ./bpf/...

check-generated: ## fail if the committed eBPF objects differ from their sources
	hack/check-generated.sh

lint: ## go vet and a gofmt check
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

demo: ## run the auditor on the shipped example cluster and flows
	$(GO) run ./cmd/auditor audit --snapshot examples/snapshot.yaml --flows examples/flows.jsonl -o table

clean: ## remove build output
	rm -rf bin
