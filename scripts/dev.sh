#!/usr/bin/env bash
# Local stack and test driver for fbchannel; the Makefile's targets call it.
#
#   scripts/dev.sh run     Postgres (system or private), then cmd/devstack: Temporal dev
#                          server, Graph API simulator, worker and starter; demo data;
#                          Ctrl-C stops it all
#   scripts/dev.sh stop    stop what a `run` started (also leftovers of a killed run)
#   scripts/dev.sh test    vet, workflowcheck, every test, bounded fuzzing (test-long: full-size loads)
#   scripts/dev.sh test-cluster  the e2e spine on a real Temporal server (scripts/cluster.sh),
#                          two worker and two starter programs per test behind one proxy
#   scripts/dev.sh lint    gofmt, vet, workflowcheck
#   scripts/dev.sh fuzz    the fuzz targets (FUZZTIME, default 20s each)
#   scripts/dev.sh build   go build the programs (and cmd/devstack) into ./bin
#   scripts/dev.sh bench   go run ./bench/ingest (or: bench assign) with Postgres and the
#                          Temporal CLI ready; further flags pass on
#   scripts/dev.sh tools   build the pinned Go tools into ./bin
#   scripts/dev.sh soak    the fault-injection soak (cmd/soak) on its own stack; flags pass on
#
# This script does what must be shell: finding or creating Postgres (initdb, pg_ctl) and
# building the pinned tools. Starting, watching and stopping the programs is Go's
# (cmd/devstack and cmd/soak, over package supervise). Everything kept lives in .data/
# (git-ignored): logs, pids, the private Postgres, the Temporal dev server's SQLite file,
# the dev SECRETS_KEY and the demo credentials.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DATA=$ROOT/.data
BIN=$ROOT/bin
LOGS=$DATA/logs
PIDS=$DATA/pids

# Pinned tools. Newer Temporal CLIs do not build with this toolchain; workflowcheck
# v0.6.0 is the newest the module proxy serves and builds with Go 1.26.
TEMPORAL_CLI_VERSION=v1.5.1
TEMPORAL_CLI_PKG=github.com/temporalio/cli/cmd/temporal
WORKFLOWCHECK_VERSION=v0.6.0
WORKFLOWCHECK_PKG=go.temporal.io/sdk/contrib/tools/workflowcheck

DEFAULT_DATABASE_URL='postgres://postgres@127.0.0.1:5432/fbchannel?sslmode=disable'
PRIVATE_PG_PORT=55432

FUZZ_TARGETS=(FuzzParseBatch FuzzVerifySignature)
FUZZ_PKG=./messenger/

PG_STARTED=0 # set to 1 when this invocation started the private Postgres

say() { printf '==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
	printf 'ERROR: %s\n' "$*" >&2
	exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------------------------------
# Small helpers

port_open() { # host port
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

wait_until() { # seconds command...: polls every half second
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 2; i++)); do
		if "$@"; then return 0; fi
		sleep 0.5
	done
	return 1
}

# The module version a Go binary was built from ("" when unknown).
go_bin_version() {
	go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'
}

redact_url() { sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"; }
url_dbname() { # the path of a postgres URL, without the query
	local db
	db=$(sed -E 's#^[a-zA-Z]+://[^/?]*/?([^?]*).*$#\1#' <<<"$1")
	printf '%s' "${db:-fbchannel}"
}
url_with_db() { # url db: the same URL pointing at another database
	sed -E "s#^([a-zA-Z]+://[^/?]*)(/[^?]*)?#\\1/$2#" <<<"$1"
}

# ---------------------------------------------------------------------------------------
# Go tools, cached in ./bin

# A `go install` of the CLI running elsewhere (the [g] keeps pgrep from matching a
# command line that merely contains this pattern).
cli_build_running() {
	have pgrep && pgrep -f "go install [g]ithub.com/temporalio/cli/cmd/temporal" >/dev/null
}

ensure_temporal_cli() {
	local v i
	mkdir -p "$BIN"
	if [[ -x $BIN/temporal && $(go_bin_version "$BIN/temporal") == "$TEMPORAL_CLI_VERSION" ]]; then
		return 0
	fi
	# Someone (another make in this tree) may be building it already: wait for them
	# rather than compiling the same few hundred packages twice on two cores.
	if cli_build_running; then
		say "Another build of the Temporal CLI is running; waiting for it..."
		for ((i = 0; i < 360; i++)); do
			cli_build_running || break
			sleep 5
		done
		if [[ -x $BIN/temporal && $(go_bin_version "$BIN/temporal") == "$TEMPORAL_CLI_VERSION" ]]; then
			return 0
		fi
	fi
	v=$(go_bin_version "$BIN/temporal" 2>/dev/null || true)
	say "Building the Temporal CLI $TEMPORAL_CLI_VERSION into ./bin${v:+ (found $v)}; the first time takes a few minutes..."
	GOBIN=$BIN go install "$TEMPORAL_CLI_PKG@$TEMPORAL_CLI_VERSION" ||
		die "could not build the Temporal CLI ($TEMPORAL_CLI_PKG@$TEMPORAL_CLI_VERSION)"
}

ensure_workflowcheck() {
	mkdir -p "$BIN"
	if [[ -x $BIN/workflowcheck && $(go_bin_version "$BIN/workflowcheck") == "$WORKFLOWCHECK_VERSION" ]]; then
		return 0
	fi
	say "Building workflowcheck $WORKFLOWCHECK_VERSION into ./bin..."
	GOBIN=$BIN go install "$WORKFLOWCHECK_PKG@$WORKFLOWCHECK_VERSION" ||
		die "could not build workflowcheck ($WORKFLOWCHECK_PKG@$WORKFLOWCHECK_VERSION)"
}

# The Temporal server itself and its SQL tool, for `make cluster` (scripts/cluster.sh).
ensure_temporal_server() {
	"$ROOT/scripts/cluster.sh" build
}

# ---------------------------------------------------------------------------------------
# Postgres: the one at DATABASE_URL, else a private one under .data/postgres

pg_tool() { # name: a Postgres program from PATH or the server's bin directory
	local d
	if have "$1"; then
		command -v "$1"
		return 0
	fi
	d=$(pg_bindir 2>/dev/null) || return 1
	[[ -x $d/$1 ]] && printf '%s\n' "$d/$1"
}

pg_bindir() { # the directory holding initdb and pg_ctl
	local p d
	if p=$(command -v initdb 2>/dev/null); then
		d=$(dirname "$(readlink -f "$p")")
		[[ -x $d/pg_ctl ]] && {
			printf '%s\n' "$d"
			return 0
		}
	fi
	# shellcheck disable=SC2012 # version-sorted, and these paths have no spaces
	for d in $(ls -d /usr/lib/postgresql/*/bin /usr/pgsql-*/bin 2>/dev/null | sort -V -r); do
		if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
			printf '%s\n' "$d"
			return 0
		fi
	done
	return 1
}

pg_answers() { # url
	local isready psql hostport
	if isready=$(pg_tool pg_isready); then
		"$isready" -q -t 3 -d "$1"
		return
	fi
	if psql=$(pg_tool psql); then
		PGCONNECT_TIMEOUT=3 "$psql" "$(url_with_db "$1" postgres)" -tAc 'select 1' >/dev/null 2>&1
		return
	fi
	hostport=$(sed -E 's#^[a-zA-Z]+://([^@/]*@)?([^/?]*).*$#\2#' <<<"$1")
	port_open "${hostport%%:*}" "$(sed -nE 's#.*:([0-9]+)$#\1#p' <<<"$hostport" | grep . || echo 5432)"
}

# Where the private cluster lives. As root it runs as the `postgres` user (initdb refuses
# root), which must be able to reach the directory; and a unix socket path has a length
# limit. Either problem moves it to /tmp.
private_pg_layout() {
	local base=$DATA
	PG_RUN_AS=
	if [[ $EUID -eq 0 ]]; then
		id postgres >/dev/null 2>&1 ||
			die "initdb refuses to run as root and there is no 'postgres' user to run it as (useradd --system postgres)"
		PG_RUN_AS=postgres
		mkdir -p "$DATA"
		if ! runuser -u postgres -- test -x "$DATA"; then
			base=/tmp/fbchannel-pg-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)
		fi
	fi
	if ((${#base} > 80)); then
		base=/tmp/fbchannel-pg-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)
	fi
	PG_DATA=$base/postgres
	PG_SOCK=$base/pgsock
	PG_LOG=$base/logs/postgres.log
}

as_pg() {
	if [[ -n ${PG_RUN_AS:-} ]]; then
		(cd / && runuser -u "$PG_RUN_AS" -- "$@")
	else
		"$@"
	fi
}

private_pg_url() { # db
	printf 'postgres://postgres@127.0.0.1:%s/%s?sslmode=disable' "$PRIVATE_PG_PORT" "$1"
}

start_private_postgres() {
	local bindir
	bindir=$(pg_bindir) || die "no Postgres answers at $(redact_url "$DATABASE_URL") and initdb is not installed: start Postgres, point DATABASE_URL at one, or install the server (apt-get install postgresql)"
	private_pg_layout
	mkdir -p "$PIDS"
	if pg_answers "$(private_pg_url postgres)"; then
		say "The private Postgres is already running on 127.0.0.1:$PRIVATE_PG_PORT"
		[[ -f $PIDS/postgres ]] || printf '%s\n' "$PG_DATA" >"$PIDS/postgres"
		return 0
	fi
	if port_open 127.0.0.1 "$PRIVATE_PG_PORT"; then
		die "port $PRIVATE_PG_PORT is taken by something that is not a Postgres answering; free it (ss -ltnp 'sport = :$PRIVATE_PG_PORT')"
	fi
	mkdir -p "$PG_DATA" "$PG_SOCK" "$(dirname "$PG_LOG")"
	touch "$PG_LOG"
	if [[ -n $PG_RUN_AS ]]; then
		chown "$PG_RUN_AS:" "$PG_DATA" "$PG_SOCK" "$PG_LOG"
	fi
	chmod 700 "$PG_DATA"
	if [[ ! -s $PG_DATA/PG_VERSION ]]; then
		say "Creating a private Postgres cluster in ${PG_DATA#"$ROOT"/} ($bindir)"
		as_pg "$bindir/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C >>"$PG_LOG" 2>&1 || {
			tail -n 20 "$PG_LOG" >&2
			die "initdb failed (log: $PG_LOG)"
		}
		# A throwaway development cluster: durability traded for speed.
		as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<-EOF

			# added by scripts/dev.sh
			listen_addresses = '127.0.0.1'
			port = $PRIVATE_PG_PORT
			unix_socket_directories = '$PG_SOCK'
			max_connections = 200
			fsync = off
			synchronous_commit = off
			full_page_writes = off
		EOF
	fi
	say "Starting the private Postgres on 127.0.0.1:$PRIVATE_PG_PORT (log: $PG_LOG)"
	# pg_ctl puts the postmaster in its own session, so a Ctrl-C does not reach it.
	as_pg "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null || {
		tail -n 20 "$PG_LOG" >&2
		die "the private Postgres did not start (log: $PG_LOG)"
	}
	printf '%s\n' "$PG_DATA" >"$PIDS/postgres"
	PG_STARTED=1
	wait_until 30 pg_answers "$(private_pg_url postgres)" ||
		die "the private Postgres started but does not answer on 127.0.0.1:$PRIVATE_PG_PORT"
}

stop_private_postgres() {
	local pgdata bindir
	[[ -f $PIDS/postgres ]] || return 0
	pgdata=$(<"$PIDS/postgres")
	if [[ -f $pgdata/postmaster.pid ]] && bindir=$(pg_bindir); then
		private_pg_layout
		say "Stopping the private Postgres"
		as_pg "$bindir/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null 2>&1 ||
			warn "pg_ctl stop failed for $pgdata"
	fi
	rm -f "$PIDS/postgres"
}

create_database() { # url: create its database when missing (the worker would too)
	local psql db maint
	psql=$(pg_tool psql) || return 0
	db=$(url_dbname "$1")
	[[ $db =~ ^[A-Za-z0-9_]+$ ]] || return 0
	maint=$(url_with_db "$1" postgres)
	if [[ $("$psql" "$maint" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" 2>/dev/null) != 1 ]]; then
		say "Creating database $db"
		"$psql" "$maint" -qc "CREATE DATABASE \"$db\"" >/dev/null 2>&1 ||
			warn "could not create database $db (the worker will try)"
	fi
}

# Sets and exports DATABASE_URL to a Postgres that answers.
ensure_postgres() {
	DATABASE_URL=${DATABASE_URL:-$DEFAULT_DATABASE_URL}
	if pg_answers "$DATABASE_URL"; then
		say "Postgres answers at $(redact_url "$DATABASE_URL")"
	else
		warn "no Postgres answers at $(redact_url "$DATABASE_URL"); using a private one on port $PRIVATE_PG_PORT"
		start_private_postgres
		DATABASE_URL=$(private_pg_url "$(url_dbname "$DATABASE_URL")")
		say "DATABASE_URL=$DATABASE_URL"
	fi
	export DATABASE_URL
	create_database "$DATABASE_URL"
}

# ---------------------------------------------------------------------------------------
# The stack (run / stop): cmd/devstack starts, watches and stops the programs

build_programs() {
	say "Building worker, starter, graphsim, devseed and devstack into ./bin"
	go build -o "$BIN/" ./worker ./starter ./cmd/graphsim ./cmd/devseed ./cmd/devstack ||
		die "go build failed (above); nothing was started"
}

# Stops a `run` still in the foreground elsewhere (it stops its programs in order)
# and what a killed one left behind; not the private Postgres (a `make test` may use it).
stop_leftovers() { # data directory
	if [[ ! -x $BIN/devstack ]]; then
		go build -o "$BIN/" ./cmd/devstack || die "go build ./cmd/devstack failed (above)"
	fi
	"$BIN/devstack" stop -bin "$BIN" -data "$1"
}

cmd_stop() {
	mkdir -p "$PIDS"
	stop_leftovers "$DATA"
	stop_private_postgres
}

RUN_CLEANED=0
run_cleanup() {
	local rc=$?
	((RUN_CLEANED)) && return 0
	RUN_CLEANED=1
	set +e
	trap '' INT TERM
	stop_leftovers "$DATA" # only if devstack itself was killed
	if ((PG_STARTED)); then stop_private_postgres; fi
	return "$rc"
}

cmd_run() {
	mkdir -p "$DATA" "$LOGS" "$PIDS"
	build_programs
	# Leftovers of a previous run (killed terminal, crash) would hold the ports.
	stop_leftovers "$DATA"
	trap run_cleanup EXIT
	trap 'exit 0' INT # a requested stop is not a failure
	trap 'exit 0' TERM

	ensure_postgres
	ensure_temporal_cli
	# Flags (e.g. -starter-port 18080) pass on to devstack; see `bin/devstack run -h`.
	"$BIN/devstack" run -bin "$BIN" -data "$DATA" "$@"
}

# ---------------------------------------------------------------------------------------
# Checks and tests

# Tests that need Postgres, the Temporal dev server or Chromium carry this build tag;
# `go test ./...` without it runs the unit tests only, with no services.
INTEGRATION_TAGS=integration

# How many tests of one package run at once (t.Parallel). The e2e tests spend most of
# their time waiting on Temporal and Postgres, so about four light ones keep 2 cores
# busy without starving the one dev server they share; the load tests run one at a
# time (e2e/load_test.go) and those waiting for their turn hold a slot each, hence 6.
TEST_PARALLEL=${TEST_PARALLEL:-6}

run_vet() { # both builds: the files behind the tag and those without it
	say "go vet ./...  (and -tags $INTEGRATION_TAGS)"
	go vet ./...
	go vet -tags "$INTEGRATION_TAGS" ./...
}

run_workflowcheck() {
	ensure_workflowcheck
	if [[ ! -d workflows ]]; then
		warn "no ./workflows directory yet; workflowcheck skipped"
		return 0
	fi
	say "workflowcheck $WORKFLOWCHECK_VERSION ./workflows/..."
	"$BIN/workflowcheck" ./workflows/... || die "workflowcheck found non-deterministic workflow code (above)"
}

run_gofmt() {
	local out
	say "gofmt -l"
	out=$(find . -name '*.go' -not -path './.*' -not -path './bin/*' -not -path '*/testdata/*' -print0 |
		xargs -0 -r gofmt -l)
	if [[ -n $out ]]; then
		printf '%s\n' "$out" >&2
		die "these files need gofmt -w"
	fi
}

run_fuzz() { # fuzztime
	local t
	for t in "${FUZZ_TARGETS[@]}"; do
		# go test passes silently when no target matches; a missing target is an error.
		grep -qs "^func $t(" "$FUZZ_PKG"*_test.go || die "fuzz target $t not found in $FUZZ_PKG"
		say "fuzz $t for $1"
		go test -run='^$' -fuzz="^$t\$" -fuzztime="$1" "$FUZZ_PKG"
	done
}

test_cleanup() {
	local rc=$?
	if ((PG_STARTED)); then stop_private_postgres; fi
	return "$rc"
}

cmd_test() {
	local started=$SECONDS
	mkdir -p "$DATA" "$LOGS" "$PIDS"
	trap test_cleanup EXIT
	ensure_temporal_cli
	ensure_postgres
	export TEMPORAL_CLI=$BIN/temporal
	run_vet
	run_workflowcheck
	say "go test -count=1 -tags $INTEGRATION_TAGS -parallel $TEST_PARALLEL ./...  (TEMPORAL_CLI=$TEMPORAL_CLI${TEST_LONG:+, TEST_LONG=$TEST_LONG})"
	go test -count=1 -timeout "${TEST_TIMEOUT:-15m}" -tags "$INTEGRATION_TAGS" -parallel "$TEST_PARALLEL" ./...
	# A count, not a duration: with a duration Go 1.26's fuzz coordinator can fail
	# the target with a bare "context deadline exceeded" at the deadline, no input
	# found (golang/go#75804, fixed in Go 1.27). 400,000 inputs are ~10-13 s a target here.
	run_fuzz "${FUZZTIME:-400000x}"
	say "make test: vet, workflowcheck, tests and fuzzing passed in $((SECONDS - started))s"
}

# test-long: the same suite with the load tests at the issue's sizes (TEST_LONG=1:
# 300 conversations, 100 pick races, ...), which take longer than `make test` may.
cmd_test_long() {
	export TEST_LONG=1
	TEST_TIMEOUT=${TEST_TIMEOUT:-40m}
	cmd_test
}

# test-cluster: the spine's e2e tests (SPINE_TESTS) on a fresh real Temporal server
# (scripts/cluster.sh, 16 shards on Postgres) on its own port, each test's stack run as
# two ./bin/worker and two ./bin/starter programs behind one round-robin proxy
# (E2E_TEMPORAL_ADDRESS, E2E_PROCESSES in e2e/harness_test.go). The server stops at the
# end; its databases stay for a look until the next run.
TEST_CLUSTER_PORT=${TEST_CLUSTER_PORT:-7633}
# webhook -> conversation -> assignment -> reply -> close, the page lifecycle, the inbox;
# and a rollout of a new build on Worker Deployment Versioning (e2e/rollout_test.go).
SPINE_TESTS='^(TestRolloutMovesConversationsToTheNewBuild|TestCustomerMessageReachesAgentAndReplyReachesCustomer|TestRedeliveredBatchIsRecordedOnce|TestWaitingConversationIsAssignedWhenAgentBecomesAvailable|TestPermanentSendFailureIsReportedNotRetried|TestRateLimitedSendIsRetriedThenSent|TestRepliesParkWhileThePageNeedsReauthorisationAndGoOutAfter|TestWindowRefusalAndHumanAgentSetting|TestProvisioningFailuresNameTheProblem|TestWebhookRefusesBadDeliveriesAndChangesNothing|TestEveryInboundKind|TestInboundUnreadableEventIsKeptAndCostsNothing)$'
# Each test runs four programs: two tests at a time keep 2 cores busy.
TEST_CLUSTER_PARALLEL=${TEST_CLUSTER_PARALLEL:-2}

cmd_test_cluster() {
	local started=$SECONDS
	mkdir -p "$DATA" "$LOGS" "$PIDS"
	trap test_cluster_cleanup EXIT
	ensure_temporal_cli
	ensure_temporal_server
	ensure_postgres
	# The server's databases live in the same Postgres as the tests' (a private one
	# when the machine's does not answer).
	[[ $DATABASE_URL != *":$PRIVATE_PG_PORT/"* ]] || export CLUSTER_PG_PORT=$PRIVATE_PG_PORT
	say "Building worker and starter into ./bin"
	go build -o "$BIN/" ./worker ./starter || die "go build failed (above)"
	CLUSTER_PORT=$TEST_CLUSTER_PORT scripts/cluster.sh reset || die "could not reset the test's Temporal server"
	TEST_CLUSTER_STARTED=1
	CLUSTER_PORT=$TEST_CLUSTER_PORT scripts/cluster.sh start || die "could not start the test's Temporal server"
	# The workers are versions of a Worker Deployment, as on any cluster (README
	# "Rolling out a new build"): each test's task queue is a deployment of its own.
	export WORKER_VERSIONING=${WORKER_VERSIONING:-true}
	say "go test -tags $INTEGRATION_TAGS -run <the spine> -parallel $TEST_CLUSTER_PARALLEL ./e2e/  (E2E_TEMPORAL_ADDRESS=127.0.0.1:$TEST_CLUSTER_PORT E2E_PROCESSES=1 WORKER_VERSIONING=$WORKER_VERSIONING)"
	E2E_TEMPORAL_ADDRESS=127.0.0.1:$TEST_CLUSTER_PORT E2E_PROCESSES=1 \
		go test -count=1 -timeout "${TEST_TIMEOUT:-15m}" -tags "$INTEGRATION_TAGS" -run "$SPINE_TESTS" \
		-parallel "$TEST_CLUSTER_PARALLEL" -v ./e2e/
	say "make test-cluster: the spine passed on the real Temporal server in $((SECONDS - started))s"
}

test_cluster_cleanup() {
	local rc=$?
	set +e
	[[ -z ${TEST_CLUSTER_STARTED:-} ]] || CLUSTER_PORT=$TEST_CLUSTER_PORT scripts/cluster.sh stop
	if ((PG_STARTED)); then stop_private_postgres; fi
	return "$rc"
}

cmd_lint() {
	run_gofmt
	run_vet
	run_workflowcheck
}

cmd_bench() {
	mkdir -p "$DATA" "$LOGS" "$PIDS"
	trap test_cleanup EXIT
	ensure_temporal_cli
	ensure_postgres
	export TEMPORAL_CLI=$BIN/temporal
	# The first argument may name the benchmark (bench/<name>); ingest by default.
	local name=ingest
	if [[ $# -gt 0 && $1 != -* ]]; then
		name=$1
		shift
	fi
	[[ -d bench/$name && $name != measure ]] || die "no benchmark bench/$name (ingest, assign)"
	go run "./bench/$name" "$@"
}

# ---------------------------------------------------------------------------------------
# Soak (make soak): cmd/soak on a stack of its own (docs/RELIABILITY.md)

SOAK_PG_PORT=55442
# SOAK_CLUSTER=1: the real Temporal server (scripts/cluster.sh) on this port, with
# databases of its own (dropped and created at each run) on the machine's Postgres.
SOAK_CLUSTER_PORT=${SOAK_CLUSTER_PORT:-7533}

# The soak starts and stops its own Temporal dev server, simulator, worker and starter
# (kill -9 and restarts included); this gives it a private Postgres it may restart, on
# its own port and under .data/soak, so `make run`, `make test` and the machine's
# Postgres are not disturbed, and stops that Postgres again.
cmd_soak() {
	ensure_temporal_cli
	say "Building worker, starter, graphsim, soak and devstack into ./bin"
	go build -o "$BIN/" ./worker ./starter ./cmd/graphsim ./cmd/soak ./cmd/devstack || die "go build failed (above)"
	DATA=$ROOT/.data/soak LOGS=$ROOT/.data/soak/logs PIDS=$ROOT/.data/soak/pids PRIVATE_PG_PORT=$SOAK_PG_PORT
	mkdir -p "$DATA" "$LOGS" "$PIDS"
	pg_bindir >/dev/null || die "the soak needs a Postgres server it can restart (initdb, pg_ctl): apt-get install postgresql"
	private_pg_layout
	[[ $PG_DATA == "$DATA"/* ]] || die "the soak's Postgres would live in $PG_DATA, outside .data/soak (shared with make run's); run from a shorter path the postgres user can reach"
	trap soak_cleanup EXIT
	trap 'exit 130' INT TERM
	stop_leftovers "$DATA" # of a killed soak
	start_private_postgres
	local cluster=()
	if [[ ${SOAK_CLUSTER:-} == 1 ]]; then
		# Two workers and two starters (behind the soak's proxy) on a real Temporal
		# server; the faults kill one of each (and restart the soak's Postgres). Flags
		# given to make soak come after these and win.
		say "SOAK_CLUSTER=1: a fresh Temporal server on 127.0.0.1:$SOAK_CLUSTER_PORT (scripts/cluster.sh)"
		CLUSTER_PORT=$SOAK_CLUSTER_PORT scripts/cluster.sh reset || die "could not reset the soak's Temporal server"
		SOAK_CLUSTER_STARTED=1
		CLUSTER_PORT=$SOAK_CLUSTER_PORT scripts/cluster.sh start || die "could not start the soak's Temporal server"
		cluster=(-temporal-address "127.0.0.1:$SOAK_CLUSTER_PORT" -workers 2 -starters 2 -faults worker,starter,postgres)
		# Versioned workers, as on any cluster; a killed worker comes back as the same build.
		export WORKER_VERSIONING=${WORKER_VERSIONING:-true}
	fi
	"$BIN/soak" -bin "$BIN" -data "$DATA" -database-url "$(private_pg_url fbchannel_soak)" \
		-pg-bindir "$(pg_bindir)" -pg-data "$PG_DATA" -pg-run-as "$PG_RUN_AS" -pg-log "$PG_LOG" "${cluster[@]}" "$@"
}

soak_cleanup() {
	local rc=$?
	set +e
	trap '' INT TERM
	stop_leftovers "$DATA" # what the soak could not stop itself (it was killed)
	# The server stays stopped with its databases, for inspection, until the next run.
	[[ -z ${SOAK_CLUSTER_STARTED:-} ]] || CLUSTER_PORT=$SOAK_CLUSTER_PORT scripts/cluster.sh stop
	stop_private_postgres
	return "$rc"
}

usage() { sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

main() {
	local cmd=${1:-help}
	[[ $# -gt 0 ]] && shift
	case $cmd in
	run) cmd_run "$@" ;;
	stop) cmd_stop ;;
	test) cmd_test ;;
	test-long) cmd_test_long ;;
	test-cluster) cmd_test_cluster ;;
	lint) cmd_lint ;;
	fuzz) run_fuzz "${FUZZTIME:-20s}" ;;
	build) build_programs ;;
	bench) cmd_bench "$@" ;;
	soak) cmd_soak "$@" ;;
	tools)
		ensure_temporal_cli
		ensure_workflowcheck
		ensure_temporal_server
		;;
	postgres) # start (or find) Postgres and print DATABASE_URL; `make stop` stops a private one
		ensure_postgres >&2
		printf '%s\n' "$DATABASE_URL"
		;;
	help | -h | --help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
