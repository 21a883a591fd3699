# Run `make help` for the targets. `make test` and `make demo` set up a fresh machine themselves.
.DEFAULT_GOAL := help
SHELL := /bin/bash

.PHONY: help setup build lint test unit demo image clean bench fuzz soak proto
IMAGE ?= egress-gateway:dev
# The project's Node (scripts/node-env.sh unpacks it into .tools/ during setup) comes first for every target.
NODE_VERSION ?= $(shell cat .node-version)
export PATH := $(CURDIR)/.tools/node-$(NODE_VERSION)/bin:$(PATH)

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

setup: ## install Debian and npm packages that are missing, then build
	bash scripts/setup.sh

build: ## compile TypeScript into dist/
	npm run --silent build

proto: ## regenerate src/policysync/gen/ from proto/felixbackend.proto (commit the result)
	npm run --silent gen:proto

lint: ## ESLint (typescript-eslint, type-checked rules) and tsc --noEmit over src, test, bench, demo
	npm run --silent lint

test: ## set up, build, lint, and run all tests (unit + kernel; needs root)
	bash scripts/test.sh

unit: build ## run only the unit tests (no root needed)
	node --test --test-reporter=tap $$(find dist/test/unit -name '*.test.js' | sort)

bench: build ## benchmarks in network namespaces, table + bench/results.json (root; BENCH=routes,updates,… picks some)
	BENCH="$(BENCH)" node dist/bench/run.js

demo: ## the gateway in network namespaces, Enterprise then OSS (agents, API stand-in): init, start, traffic, tcpdump, readiness (needs root)
	bash scripts/demo.sh

image: ## build the container image: Docker if a daemon runs, else buildah (IMAGE=name:tag; STAND_IN=1: bases built here)
	bash scripts/image.sh $(if $(STAND_IN),--stand-in) $(IMAGE)

fuzz: build ## long PolicySync fuzz run: FUZZ_COUNT messages (100000) from FUZZ_SEED (a fresh one, printed)
	seed=$${FUZZ_SEED:-$$(date +%s)}; echo "fuzz seed $$seed (replay: make fuzz FUZZ_SEED=$$seed)"; \
	FUZZ_SEED=$$seed FUZZ_COUNT=$${FUZZ_COUNT:-100000} node --test --test-reporter=tap dist/test/unit/fuzz-policysync.test.js

soak: build ## SOAK_SECONDS (600) of route churn at 1000/s with traffic: live heap after a full GC, RSS and fds (needs root)
	SOAK_SECONDS=$${SOAK_SECONDS:-600} node --test --test-reporter=tap dist/test/kernel/soak.test.js

clean: ## remove build output
	rm -rf dist .build
