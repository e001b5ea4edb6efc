# AegisAI audit layer. `make run` and `make test` install what they need:
# versitygw (built from the Go module proxy into ./bin) and dynalite (npm,
# from the committed lockfile). Go and Node.js come with the machine.

GO      ?= go
NPM     ?= npm
export AEGIS_ROOT := $(CURDIR)
# Every build and test runs on Go 1.27.3 (go.mod's toolchain line), which
# the go command fetches from the Go module proxy once (about 76 MB): the
# machine's Go 1.26.8 has known vulnerabilities in net/http (HTTP/2 server
# crash and memory exhaustion), crypto/x509 and crypto/tls, which ingest and
# query serve with (make vulncheck). A machine whose go.env says
# GOTOOLCHAIN=local would otherwise ignore the toolchain line. A GOTOOLCHAIN
# set in the environment (golang Docker images set GOTOOLCHAIN=local) or on
# the command line wins; one set but empty does not (`?=` kept it empty).
GOTOOLCHAIN := $(or $(GOTOOLCHAIN),go1.27.3)
export GOTOOLCHAIN

VERSITYGW := bin/versitygw
DYNALITE  := devstack/dynalite/node_modules/dynalite/cli.js

.PHONY: all tools browser run explore test test-containers test-external docs compose-check kube-check alert-check up down bench chaos soak test-interleavings test-broker-faults vulncheck fuzz build vet fmt clean-data

all: build

## tools: install the local servers (versitygw, dynalite)
tools: $(VERSITYGW) $(DYNALITE)

$(VERSITYGW): devstack/go.mod devstack/go.sum
	cd devstack && $(GO) build -o ../$(VERSITYGW) github.com/versity/versitygw/cmd/versitygw

$(DYNALITE): devstack/dynalite/package.json devstack/dynalite/package-lock.json
	cd devstack/dynalite && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

## browser: Chromium for the auditor's page test (Debian's chromium-headless-shell),
## installed when no Chromium is found; the test fails without one
browser:
	@command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell; }

## build: the aegis binary and the standalone dev Kafka broker
# The commit goes into `aegis version` and aegis_build_info even where
# GOFLAGS has -buildvcs=false.
COMMIT := $(shell git rev-parse --short=12 HEAD 2>/dev/null)$(shell git diff --quiet HEAD 2>/dev/null || echo +dirty)

build:
	$(GO) build -ldflags "-X main.commit=$(COMMIT)" -o bin/aegis ./cmd/aegis
	$(GO) build -o bin/kafka ./internal/testbed/cmd/kafka

## run: the whole pipeline on the embedded local stack, state in ./.data
run: tools
	$(GO) run ./internal/testbed/cmd/demo -data .data

## explore: make run, then keep the stack up (Ctrl-C stops it) and print the
## settings and commands to explore the chain with bin/aegis
# The demo is built and run, not go run: go run exits 1 when it gets the
# Ctrl-C, whatever the demo does, and make then reports an error.
explore: tools build
	$(GO) build -o bin/demo ./internal/testbed/cmd/demo
	bin/demo -data .data -keep

## test: unit tests and end-to-end tests against the real local servers
test: tools browser
	$(GO) vet ./...
	$(GO) vet -tags containers ./internal/testbed/localstack
	$(GO) test -race -count=1 -timeout 15m ./...
	python3 testdata/vectors/check_vectors.py testdata/vectors/*.json testdata/independent/*.json
	cd devstack && $(GO) test -count=1 ./composecheck
	cd devstack/alertcheck && $(GO) test -count=1 ./...

## compose-check: validate docker-compose.yml without a Docker engine
compose-check: build
	cd devstack && $(GO) build -o ../bin/composecheck ./composecheck
	bin/composecheck -aegis bin/aegis docker-compose.yml

## kube-check: validate deploy/kubernetes/aegis.yaml without a cluster
kube-check: build
	cd devstack && $(GO) build -o ../bin/composecheck ./composecheck
	bin/composecheck -kube -aegis bin/aegis deploy/kubernetes/aegis.yaml

## alert-check: load deploy/prometheus/aegis-alerts.yml with Prometheus's
## rule parser, check its metrics against the code, evaluate each alert
alert-check:
	cd devstack/alertcheck && $(GO) test -count=1 -v -run 'TestRepositoryAlertRules|TestAlertsFireWhenTheyShould' ./...

## up / down: the production-shaped stack of docker-compose.yml (needs a
## Docker engine). up creates the checkpoint keys and a .env with random
## passwords the first time.
# The roles run as the user who ran make up, who owns keys/, secrets/ and
# spool/ (ingest's escalations while Kafka is down); as root, as the image's
# non-root user 65532, to whom they are given on every make up (so that a
# key or certificate added since is too).
up: keys/prod.key .env secrets/tokens
	mkdir -p spool
	grep -q '^RUN_AS=' .env || if [ "$$(id -u)" = 0 ]; then echo 'RUN_AS=65532:65532' >> .env; \
	else echo "RUN_AS=$$(id -u):$$(id -g)" >> .env; fi
	if [ "$$(id -u)" = 0 ]; then chown -R 65532:65532 keys secrets spool; fi
	AEGIS_COMMIT=$(COMMIT) docker compose up -d --build

down:
	docker compose down

keys/prod.key:
	mkdir -p keys
	$(GO) run ./cmd/aegis keygen --name aegis-prod --out keys/prod

# Bearer tokens of the ingest and query services (package httpauth's
# format): one for services that record prod's decisions, one for auditors.
secrets/tokens:
	mkdir -p secrets
	umask 077 && printf 'services %s prod record\nauditor %s prod read\n' \
		"$$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" "$$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" > secrets/tokens

.env:
	umask 077 && printf 'MINIO_ROOT_USER=aegis\nMINIO_ROOT_PASSWORD=%s\n' "$$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" > .env

## vulncheck: govulncheck against the Go vulnerability database (built
## offline from a pinned golang.org/x/vulndb; VULNDB=https://vuln.go.dev for today's)
vulncheck:
	GO=$(GO) bash devstack/vulncheck.sh

## fuzz: run each fuzzer of a parser of outside input for FUZZTIME
## (default 30s). The query package's tests start the local stack, hence tools.
FUZZTIME ?= 30s
FUZZ_TARGETS := \
	./shared:FuzzParseLine ./shared:FuzzSingleByteEdit ./shared:FuzzSealRecord ./shared:FuzzCanonicalize \
	./shared:FuzzCanonicalMode ./shared:FuzzOpenCheckpoint ./shared:FuzzParseVerifierKey ./shared:FuzzParseKeyset ./shared:FuzzEnvelopeRecord \
	./shared:FuzzParseLineFast ./shared:FuzzPrepareRecordFast ./shared:FuzzScanCanonical ./shared:FuzzCanonicalSorted ./shared:FuzzCompleteRecordFast ./shared:FuzzPlainNumber \
	./shared:FuzzVerifyBundle ./shared:FuzzParseObject ./query:FuzzDecodeCursor ./query:FuzzDecodeOverrideCursor ./internal/platform/httpauth:FuzzParse ./ingest:FuzzIngestBody
fuzz: tools
	for t in $(FUZZ_TARGETS); do \
		$(GO) test "$${t%%:*}" -run '^$$' -fuzz "^$${t##*:}\$$" -fuzztime $(FUZZTIME) || exit 1; done

## test-containers: the same tests against containers (needs a Docker engine)
test-containers:
	AEGIS_STACK=containers $(GO) test -count=1 -tags containers -timeout 30m ./...

## test-external: the same tests against servers that already run, named by
## AEGIS_TEST_BROKERS, AEGIS_TEST_S3_ENDPOINT, AEGIS_TEST_DYNAMODB_ENDPOINT, ...
## (README: "Testing against your own servers")
test-external:
	AEGIS_STACK=external $(GO) test -race -count=1 -timeout 30m ./...

## test-interleavings: every schedule of two index writers' DynamoDB calls, one
## call at a time, against dynalite (long; make test runs a sample of them)
test-interleavings: tools
	AEGIS_INTERLEAVINGS=all $(GO) test -count=1 -timeout 60m -run 'TestInterleavingsAll|TestEveryScheduleOfTwoWriters' -v ./indexer

## test-broker-faults: the long broker and sealer fault scenarios (bin/kafka killed,
## stopped and frozen under load while the sealer commits transactions; aegis sealer
## processes frozen, killed and duplicated), left out of make test
test-broker-faults: tools build
	AEGIS_BROKER_FAULTS=all $(GO) test -count=1 -timeout 30m -run 'TestAttack34Txn|TestAttack34d' -v ./internal/testbed/e2e

## chaos: SIGKILL the sealer and indexers KILLS times under load, count what survived
KILLS ?= 20
chaos: tools
	$(GO) run ./internal/testbed/cmd/chaos -kills $(KILLS)

## soak: every long-running role as its own process under a steady HTTP load for
## DURATION (default 30m) at RATE decisions/s (default 200); fails when a process's
## goroutines, open files or memory kept growing, or anything answered 201 was lost
DURATION ?= 30m
RATE ?= 200
soak: tools
	$(GO) run ./internal/testbed/cmd/soak -duration $(DURATION) -rate $(RATE)

## bench: benchmarks with a raw baseline; BENCH=<id> runs one
bench: tools
	$(GO) run ./internal/testbed/cmd/bench $(if $(BENCH),-bench $(BENCH))

## docs: regenerate docs/CONFIG.md from the flags (a test fails when it is stale)
docs:
	$(GO) run ./cmd/aegis config-reference > docs/CONFIG.md

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

## clean-data: remove the state of `make run`
clean-data:
	rm -rf .data
