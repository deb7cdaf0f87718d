# Jenkins agent VPCs. `make` (or `make help`) lists the targets.
#
# SAM builds each function with `BuildMethod: makefile` and `CodeUri: .`: it runs
# `make build-<LogicalId>` at the repository root with ARTIFACTS_DIR set, so the functions
# compile against the module's shared/ packages.

.DEFAULT_GOAL := help

# Lambda runs the functions on arm64 (template.yaml). Override for a local runner on this host:
# `make build GOARCH=amd64`.
GOARCH ?= arm64
FUNCTIONS := onboard accept reconcile
TEMPLATES := template.yaml member-template.yaml

GO_BUILD = CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) go build $(GO_FLAGS) -ldflags "-s -w"
# The local stack is built with the functions' compiler flags, so that the packages they share
# (the SDK's EC2 package above all) compile once into the Go build cache, not once per set of flags.
# -gcflags=all=-l turns inlining off: each bootstrap is about 0.9 MB smaller (all under 10 MiB) and
# starts as fast; CPU-bound code is slower (decoding an event: 247 µs instead of 148 µs), which
# functions that spend their time waiting on AWS do not feel (README, "Measurements").
GO_FLAGS = -tags lambda.norpc -trimpath -gcflags=all=-l
GO_BUILD_LOCAL = CGO_ENABLED=0 go build $(GO_FLAGS)

##@ General

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
		/^[a-zA-Z0-9_.-]+:.*?##/ { printf "  \033[36m%-24s\033[0m %s\n", $$1, $$2 } \
		/^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Build

.PHONY: build
build: ## Build all functions into bin/<function>/bootstrap (GOARCH, default arm64)
	@for fn in $(FUNCTIONS); do \
		echo "building bin/$$fn/bootstrap ($(GOARCH))"; \
		$(GO_BUILD) -o bin/$$fn/bootstrap ./functions/$$fn || exit 1; \
	done

.PHONY: sizes
sizes: build ## Build, then print each stripped bootstrap's size in bytes
	@for fn in $(FUNCTIONS); do printf '%-10s %s bytes (%s)\n' $$fn $$(stat -c %s bin/$$fn/bootstrap) $(GOARCH); done

.PHONY: build-OnboardFunction build-AcceptFunction build-ReconcileFunction
build-OnboardFunction: ## (sam build) Build the onboard function into $(ARTIFACTS_DIR)/bootstrap
	$(call require-artifacts-dir)
	$(GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/onboard

build-AcceptFunction: ## (sam build) Build the accept function into $(ARTIFACTS_DIR)/bootstrap
	$(call require-artifacts-dir)
	$(GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/accept

build-ReconcileFunction: ## (sam build) Build the reconcile function into $(ARTIFACTS_DIR)/bootstrap
	$(call require-artifacts-dir)
	$(GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/reconcile

##@ Verify

# The linters, pinned: `make tools` installs them with `go install <module>/cmd/<tool>@<version>`
# into GOBIN (default $(go env GOPATH)/bin); .ci/run calls it, then puts TOOLBIN on PATH.
STATICCHECK_VERSION := v0.8.2
GOLANGCI_LINT_VERSION := v2.15.0
GOCYCLO_VERSION := v0.6.0
TOOLBIN = $(or $(shell go env GOBIN),$(shell go env GOPATH)/bin)

.PHONY: tools
tools: ## Install the pinned staticcheck, golangci-lint and gocyclo into GOBIN (Go module proxy)
	go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	go install github.com/fzipp/gocyclo/cmd/gocyclo@$(GOCYCLO_VERSION)

.PHONY: test
test: ## Run all Go tests
	go test -timeout 30m ./...

.PHONY: lint
lint: tools ## go vet, gofmt, staticcheck, golangci-lint (.golangci.yml), cfn-lint on both templates: zero findings
	go vet ./...
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(TOOLBIN)/staticcheck ./...
	$(TOOLBIN)/golangci-lint run ./...
	cfn-lint $(TEMPLATES)

.PHONY: complexity
complexity: tools ## List the functions whose cyclomatic complexity is over 20, most complex first (informational)
	@$(TOOLBIN)/gocyclo -over 20 . || true

# Fuzzing: every Fuzz* target of these packages, each for FUZZTIME in turn. CI runs a short
# pass; run longer here, e.g. `make fuzz FUZZTIME=10m FUZZFLAGS=-parallel=1`.
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline exceeded" when
# -fuzztime ends while a worker is busy, having found nothing (go.dev/issue/75804, fixed in
# Go 1.27); it happens on loaded machines. A run is a failure when it wrote a failing input to
# testdata/fuzz/<target>, or failed any other way; that one message without a new input is
# reported and passed over.
FUZZTIME ?= 10s
FUZZFLAGS ?=
FUZZ_PACKAGES := ./shared/event

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 10s) in turn; failing inputs land in the package's testdata/fuzz
	@out=$$(mktemp); trap 'rm -f "$$out" "$$out.rc"' EXIT; \
	for pkg in $(FUZZ_PACKAGES); do \
		dir="$$(go list -f '{{.Dir}}' $$pkg)" || exit 1; \
		targets="$$(go test -list '^Fuzz' $$pkg | grep '^Fuzz')" || exit 1; \
		for target in $$targets; do \
			echo "fuzzing $$target in $$pkg for $(FUZZTIME)"; \
			before=$$(ls "$$dir/testdata/fuzz/$$target" 2>/dev/null | wc -l); \
			{ go test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg; echo $$? >"$$out.rc"; } 2>&1 | tee "$$out"; \
			[ "$$(cat "$$out.rc")" = 0 ] && continue; \
			after=$$(ls "$$dir/testdata/fuzz/$$target" 2>/dev/null | wc -l); \
			if [ "$$after" = "$$before" ] && grep -q '^    context deadline exceeded$$' "$$out" && ! grep -q 'Failing input written' "$$out"; then \
				echo "$$target: Go's fuzz coordinator stopped on its deadline race (go.dev/issue/75804); no failing input, passed over"; \
				continue; \
			fi; \
			exit 1; \
		done; \
	done

.PHONY: clean
clean: ## Remove build outputs (bin/, .aws-sam/)
	rm -rf bin .aws-sam

##@ Run locally (no AWS account)

LOCAL_ARGS ?=

.PHONY: local demo
local: ## Run the product locally until Ctrl-C: local AWS, templates' routing, functions under the Lambda emulator (LOCAL_ARGS="-schedule 30s -throttle -lossy")
	$(build-localstack)
	@exec ./bin/localstack $(LOCAL_ARGS)

demo: ## Narrated scenario on the local stack: tag, publish, break, reconcile, refuse, untag (exits 0 when it all worked)
	$(build-localstack)
	@exec ./bin/localstack -demo

# Builds bin/localstack, saying every 10 s that it still does: with an empty Go build cache the
# first build takes minutes.
define build-localstack
	@echo "building bin/localstack ($(GO_BUILD_LOCAL))"; \
	rc=$$(mktemp); start=$$(date +%s); \
	{ $(GO_BUILD_LOCAL) -o bin/localstack ./cmd/localstack; echo $$? >"$$rc"; } & \
	n=0; while [ ! -s "$$rc" ]; do sleep 1; n=$$((n + 1)); \
		[ $$((n % 10)) -ne 0 ] || [ -s "$$rc" ] || echo "still building bin/localstack ($${n}s)"; \
	done; \
	status=$$(cat "$$rc"); rm -f "$$rc"; [ "$$status" = 0 ] || exit "$$status"; \
	echo "built bin/localstack in $$(( $$(date +%s) - start ))s"
endef

define require-artifacts-dir
	@if [ -z "$(ARTIFACTS_DIR)" ]; then echo "ARTIFACTS_DIR is not set: run sam build, or make build" >&2; exit 2; fi
endef
