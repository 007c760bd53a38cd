# fbchannel: the two commands are `make run` and `make test`.
# The logic lives in scripts/dev.sh; these targets only name it.

SHELL := /bin/bash
DEV := scripts/dev.sh

# The benchmark `make bench` runs: ingest or assign (bench/<name>).
BENCH ?= ingest

# How long each fuzz target runs under `make fuzz` (make test runs each for 400000 inputs, FUZZTIME=400000x).
FUZZTIME ?= 20s

.DEFAULT_GOAL := help

.PHONY: help run stop test test-long test-cluster fuzz build lint bench tools cluster cluster-stop cluster-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-13s %s\n", $$1, $$2 }'

run: ## Postgres, Temporal dev server, simulator, worker, starter and demo data; Ctrl-C stops all
	@$(DEV) run

stop: ## stop everything `make run` started (and the private Postgres)
	@$(DEV) stop

test: ## vet, workflowcheck, the whole test suite (-tags integration, in parallel), bounded fuzzing
	@$(DEV) test

test-long: ## make test with the load tests at the issue's full sizes (TEST_LONG=1)
	@$(DEV) test-long

test-cluster: ## the e2e spine on a fresh real Temporal server (make cluster's, port TEST_CLUSTER_PORT=7633), 2 worker + 2 starter programs per test
	@$(DEV) test-cluster

fuzz: ## run each fuzz target for FUZZTIME (default 20s)
	@FUZZTIME=$(FUZZTIME) $(DEV) fuzz

build: ## build worker, starter, graphsim, devseed and devstack into ./bin
	@$(DEV) build

lint: ## gofmt (must list nothing), go vet with and without -tags integration, workflowcheck
	@$(DEV) lint

bench: ## go run ./bench/ingest (BENCH=assign: bench/assign), with Postgres and the Temporal CLI ready
	@$(DEV) bench $(BENCH)

soak: ## fault-injection soak on its own stack (SOAK_FLAGS="-messages 2000 -conversations 100" for a quick run; SOAK_CLUSTER=1 on a real Temporal server)
	@$(DEV) soak $(SOAK_FLAGS)

tools: ## build the pinned Temporal CLI, workflowcheck and the Temporal server into ./bin
	@$(DEV) tools

cluster: tools ## a real Temporal server (1.29.1, 16 shards) on Postgres at 127.0.0.1:7333, in the background
	@scripts/cluster.sh start

cluster-stop: ## stop the server `make cluster` started (its databases stay)
	@scripts/cluster.sh stop

cluster-check: ## run a workflow (signal, activity, timer, update) on the `make cluster` server
	@scripts/cluster.sh check
