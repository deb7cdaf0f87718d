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

GO_BUILD = CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) go build -tags lambda.norpc -trimpath -ldflags "-s -w"

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

.PHONY: test
test: ## Run all Go tests
	go test -timeout 30m ./...

.PHONY: lint
lint: ## go vet, gofmt check, cfn-lint on both templates
	go vet ./...
	@unformatted="$$(gofmt -l .)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	cfn-lint $(TEMPLATES)

.PHONY: clean
clean: ## Remove build outputs (bin/, .aws-sam/)
	rm -rf bin .aws-sam

##@ Run locally (no AWS account)

LOCAL_ARGS ?=

.PHONY: local demo
local: ## Run the product locally until Ctrl-C: local AWS, templates' routing, functions under the Lambda emulator (LOCAL_ARGS="-schedule 30s -throttle -lossy")
	@go build -o bin/localstack ./cmd/localstack
	@exec ./bin/localstack $(LOCAL_ARGS)

demo: ## Narrated scenario on the local stack: tag, publish, break, reconcile, refuse, untag (exits 0 when it all worked)
	@go build -o bin/localstack ./cmd/localstack
	@exec ./bin/localstack -demo

define require-artifacts-dir
	@if [ -z "$(ARTIFACTS_DIR)" ]; then echo "ARTIFACTS_DIR is not set: run sam build, or make build" >&2; exit 2; fi
endef
