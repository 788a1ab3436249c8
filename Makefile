# nightly: the Dagger module, its test bed and its tests. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
GO_TEST_FLAGS ?= -count=1

.PHONY: help demo test unit unit-go unit-sh e2e bench fresh-engines lint-reference testbed testbed-down testbed-check-clean testbed-clean lint generate

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

demo: ## Run the nightly on the fixture product with embedded defaults (starts the test bed)
	@bash testbed/hygiene.sh guard
	@bash testbed/with.sh bash testbed/demo.sh

test: ## Run every test: pure unit tests, then end-to-end tests on the test bed
	@bash testbed/hygiene.sh guard
	@$(MAKE) --no-print-directory unit
	@bash testbed/with.sh $(MAKE) --no-print-directory e2e

# The unit tests build with the flags of the test bed's Go builds (no cgo, -trimpath, no DWARF):
# the standard library and any dependency at the same version compile once for both, not twice.
# The Go tests and the test bed's shell tests run side by side (both mostly wait), each one's
# output printed whole when it ends.
unit: ## Pure-logic tests, no engine needed
	@$(MAKE) --no-print-directory -j2 --output-sync=target unit-go unit-sh

unit-go: export CGO_ENABLED = 0
unit-go: export GOFLAGS = -trimpath -gcflags=all=-dwarf=false
unit-go:
	go vet ./...
	go test $(GO_TEST_FLAGS) ./...
	cd tools/dockerlint && go vet ./... && go test $(GO_TEST_FLAGS) ./...
	cd tools/forge && go vet ./... && go test $(GO_TEST_FLAGS) ./...
	cd tools/deployer && go vet ./... && go test $(GO_TEST_FLAGS) ./...
	cd tools/gha && go vet ./... && go test $(GO_TEST_FLAGS) ./...
	bash testbed/actionlint.sh

unit-sh:
	bash testbed/hygiene_test.sh

# Four tests at a time on two cores: in clean-clone runs (ninth session) the e2e part took
# 342-378 s and 9.9-11.2 CPU-min at -parallel 4 (four runs), 362-379 s and ~10.8-11.6 at 8 (two):
# a little less CPU for the same work, within the noise on time. E2E_PARALLEL=N to try another.
E2E_PARALLEL ?= 4
e2e: ## End-to-end tests; needs the test bed up and .testbed/env sourced (see `make test`)
	cd testbed && go vet ./... && go test $(GO_TEST_FLAGS) -timeout 60m -parallel $(E2E_PARALLEL) -v ./e2e/... 2>&1 | tee ../.e2e.log | grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic|\s+\S+_test.go)' ; exit $${PIPESTATUS[0]}

bench: ## Benchmarks on the test bed (Maven cold vs warm, surefire fork); numbers go in the README
	@bash testbed/hygiene.sh guard
	@bash testbed/with.sh bash -c 'cd testbed && go test -run=NONE -bench=. -benchtime=3x -timeout 60m ./bench/...'

fresh-engines: ## Same commit, same digests on two engines started from nothing, one after the other (no bed may be up)
	@bash testbed/fresh-engines.sh

lint-reference: ## Compare the buildkit linter with a real BuildKit (buildkitd v0.34.2) on fixtures/lint-corpus; the table goes in the README
	@bash testbed/hygiene.sh guard
	@bash testbed/with.sh bash testbed/lint-reference.sh

testbed: ## Build what is missing (cached in $NIGHTLY_CACHE) and start the test bed
	@bash testbed/hygiene.sh guard
	@bash testbed/up.sh

testbed-down: ## Stop the test bed, remove all it added to the host, and check that
	@bash testbed/down.sh
	@bash testbed/check-clean.sh

testbed-clean: testbed-down ## Also delete the cache (the next start is cold)
	rm -rf "$${NIGHTLY_CACHE:-$${XDG_CACHE_HOME:-$$HOME/.cache}/nightly-testbed}"

lint: ## shellcheck the test bed scripts
	shellcheck -x testbed/*.sh .ci/run
