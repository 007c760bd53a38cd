#!/usr/bin/env bash
# A real Temporal server (not the dev server) on this machine's Postgres, built from its
# Go module: the production-shaped stack without Docker. The Makefile's cluster targets
# call it.
#
#   scripts/cluster.sh build   go install the Temporal server and temporal-sql-tool at
#                              the version docker-compose.yml pins, into ./bin (cached)
#   scripts/cluster.sh start   create and migrate its databases, start the server in the
#                              background (all services, one process), register the
#                              namespace, wait until it takes workflows
#   scripts/cluster.sh stop    stop it
#   scripts/cluster.sh status  is it running, and where
#   scripts/cluster.sh check   run a workflow, a signal and an update on it (cmd/clustercheck)
#   scripts/cluster.sh reset   stop it and drop its databases
#
# Configuration (environment; defaults in brackets):
#   CLUSTER_PORT        frontend gRPC port [7333]; the other ports derive from it:
#                       HTTP +10, history +1, matching +2, worker +6, membership -1000,
#                       metrics +2000 (CLUSTER_HTTP_PORT, CLUSTER_METRICS_PORT, ... override)
#   CLUSTER_PG_HOST, CLUSTER_PG_PORT, CLUSTER_PG_USER, CLUSTER_PG_PASSWORD
#                       Postgres [127.0.0.1, 5432, postgres, none]
#   CLUSTER_DB, CLUSTER_VISIBILITY_DB
#                       its databases [temporal_cluster, temporal_cluster_visibility;
#                       with another CLUSTER_PORT: temporal_cluster_<port>[_visibility]]
#   CLUSTER_SHARDS      history shards [16]; fixed once the databases were used
#   CLUSTER_PG_MAX_CONNS  connections per service pool [6]
#   CLUSTER_NAMESPACE, CLUSTER_NAMESPACE_RETENTION  [default, 168h]
#   CLUSTER_LOG_LEVEL   [warn]
#   CLUSTER_DYNAMIC_CONFIG  [deploy/temporal/dynamicconfig/production-sql.yaml]
#
# The server's configuration is deploy/cluster/cluster.yaml (a template of these
# variables); its dynamic configuration is the compose file's. Pid file:
# .data/pids/temporal-cluster.pid, log: .data/logs/temporal-cluster.log (with another
# CLUSTER_PORT: temporal-cluster-<port>.pid and .log), so servers on two ports coexist.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

BIN=$ROOT/bin
DATA=$ROOT/.data
LOGS=$DATA/logs
PIDS=$DATA/pids

SERVER_MODULE=go.temporal.io/server

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'ERROR: %s\n' "$*" >&2
	exit 1
}

# The server version is the one docker-compose.yml runs, so both stacks are the same
# server; only the "v" differs between the image tag and the module version.
server_version() {
	local v
	v=$(sed -nE 's/.*TEMPORAL_VERSION:-([0-9]+\.[0-9]+\.[0-9]+)\}.*/\1/p' docker-compose.yml | head -n1)
	[[ -n $v ]] || die "cannot read the pinned Temporal version (TEMPORAL_VERSION:-x.y.z) from docker-compose.yml"
	printf 'v%s\n' "$v"
}

# The module version a Go binary was built from ("" when unknown).
go_bin_version() {
	go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $3; exit }'
}

# ---------------------------------------------------------------------------------------
# build

built() { # name version
	[[ -x $BIN/$1 && $(go_bin_version "$BIN/$1") == "$2" ]]
}

# go install names a binary after its package directory (server, sql); they are built
# into a private directory and renamed to the names of the official images. A lock
# keeps two builds (two worktrees share ./bin) from compiling the same packages twice.
cmd_build() {
	local version tmp started=$SECONDS
	version=$(server_version)
	mkdir -p "$BIN"
	built temporal-server "$version" && built temporal-sql-tool "$version" && return 0
	exec 9>"$BIN/.temporal-server.lock"
	if ! flock -n 9; then
		say "Another build of the Temporal server is running; waiting for it..."
		flock 9
	fi
	if built temporal-server "$version" && built temporal-sql-tool "$version"; then
		flock -u 9
		return 0
	fi
	say "Building the Temporal server $version and temporal-sql-tool from $SERVER_MODULE into ./bin (the first time takes several minutes)..."
	tmp=$(mktemp -d "$BIN/.temporal-server-build.XXXXXX")
	if ! GOBIN=$tmp go install "$SERVER_MODULE/cmd/server@$version" "$SERVER_MODULE/cmd/tools/sql@$version"; then
		rm -rf "$tmp"
		die "could not build the Temporal server ($SERVER_MODULE/cmd/server@$version)"
	fi
	mv -f "$tmp/server" "$BIN/temporal-server"
	mv -f "$tmp/sql" "$BIN/temporal-sql-tool"
	rmdir "$tmp"
	flock -u 9
	say "Built bin/temporal-server and bin/temporal-sql-tool $version in $((SECONDS - started))s"
}

# ---------------------------------------------------------------------------------------
# configuration

configure() {
	: "${CLUSTER_PORT:=7333}"
	[[ $CLUSTER_PORT =~ ^[0-9]+$ ]] && ((CLUSTER_PORT > 1000 && CLUSTER_PORT < 63000)) ||
		die "CLUSTER_PORT must be a port number between 1001 and 62999 (got '$CLUSTER_PORT')"
	: "${CLUSTER_HTTP_PORT:=$((CLUSTER_PORT + 10))}"
	: "${CLUSTER_HISTORY_PORT:=$((CLUSTER_PORT + 1))}"
	: "${CLUSTER_MATCHING_PORT:=$((CLUSTER_PORT + 2))}"
	: "${CLUSTER_WORKER_PORT:=$((CLUSTER_PORT + 6))}"
	: "${CLUSTER_FRONTEND_MEMBERSHIP_PORT:=$((CLUSTER_PORT - 1000))}"
	: "${CLUSTER_HISTORY_MEMBERSHIP_PORT:=$((CLUSTER_PORT - 999))}"
	: "${CLUSTER_MATCHING_MEMBERSHIP_PORT:=$((CLUSTER_PORT - 998))}"
	: "${CLUSTER_WORKER_MEMBERSHIP_PORT:=$((CLUSTER_PORT - 994))}"
	: "${CLUSTER_METRICS_PORT:=$((CLUSTER_PORT + 2000))}"
	: "${CLUSTER_PG_HOST:=127.0.0.1}" "${CLUSTER_PG_PORT:=5432}" "${CLUSTER_PG_USER:=postgres}"
	: "${CLUSTER_PG_PASSWORD:=}" "${CLUSTER_PG_MAX_CONNS:=6}"
	# Another port is another server, with databases, pid file and log of its own.
	suffix=""
	((CLUSTER_PORT == 7333)) || suffix=_$CLUSTER_PORT
	: "${CLUSTER_DB:=temporal_cluster$suffix}" "${CLUSTER_VISIBILITY_DB:=temporal_cluster${suffix}_visibility}"
	PIDFILE=$PIDS/temporal-cluster${suffix/_/-}.pid
	LOG=$LOGS/temporal-cluster${suffix/_/-}.log
	: "${CLUSTER_SHARDS:=16}" "${CLUSTER_LOG_LEVEL:=warn}"
	: "${CLUSTER_NAMESPACE:=default}" "${CLUSTER_NAMESPACE_RETENTION:=168h}"
	export CLUSTER_PORT CLUSTER_HTTP_PORT CLUSTER_HISTORY_PORT CLUSTER_MATCHING_PORT \
		CLUSTER_WORKER_PORT CLUSTER_FRONTEND_MEMBERSHIP_PORT CLUSTER_HISTORY_MEMBERSHIP_PORT \
		CLUSTER_MATCHING_MEMBERSHIP_PORT CLUSTER_WORKER_MEMBERSHIP_PORT CLUSTER_METRICS_PORT \
		CLUSTER_PG_HOST CLUSTER_PG_PORT CLUSTER_PG_USER CLUSTER_PG_PASSWORD \
		CLUSTER_PG_MAX_CONNS CLUSTER_DB CLUSTER_VISIBILITY_DB CLUSTER_SHARDS CLUSTER_LOG_LEVEL
	ADDRESS=127.0.0.1:$CLUSTER_PORT
}

ports() {
	printf '%s\n' "$CLUSTER_PORT" "$CLUSTER_HTTP_PORT" "$CLUSTER_HISTORY_PORT" \
		"$CLUSTER_MATCHING_PORT" "$CLUSTER_WORKER_PORT" "$CLUSTER_FRONTEND_MEMBERSHIP_PORT" \
		"$CLUSTER_HISTORY_MEMBERSHIP_PORT" "$CLUSTER_MATCHING_MEMBERSHIP_PORT" \
		"$CLUSTER_WORKER_MEMBERSHIP_PORT" "$CLUSTER_METRICS_PORT"
}

port_open() { # host port
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# ---------------------------------------------------------------------------------------
# databases

sql_tool() { # db args...
	local db=$1
	shift
	SQL_PASSWORD=$CLUSTER_PG_PASSWORD "$BIN/temporal-sql-tool" --plugin postgres12 \
		--ep "$CLUSTER_PG_HOST" -p "$CLUSTER_PG_PORT" -u "$CLUSTER_PG_USER" --db "$db" "$@"
}

schema_dir() {
	local dir
	dir=$(go mod download -json "$SERVER_MODULE@$(server_version)" | sed -nE 's/^[[:space:]]*"Dir": "(.*)",?$/\1/p')
	[[ -d $dir/schema/postgresql/v12 ]] || die "no schema/postgresql/v12 in $SERVER_MODULE@$(server_version) ($dir)"
	printf '%s\n' "$dir/schema/postgresql/v12"
}

# Creates the database if missing, puts the schema_version bookkeeping in if missing,
# then applies every versioned migration not applied yet (the step that must succeed).
migrate_db() { # db versioned-dir
	local out
	if ! out=$(sql_tool "$1" create-database 2>&1); then
		grep -q 'already exists' <<<"$out" || die "could not create database $1: $out"
	fi
	if ! out=$(sql_tool "$1" setup-schema -v 0.0 2>&1); then
		grep -q 'already exists' <<<"$out" || die "could not set up schema versioning in $1: $out"
	fi
	out=$(sql_tool "$1" update-schema -d "$2" 2>&1) || die "could not migrate $1 with $2: $out"
}

migrate() {
	local dir
	port_open "$CLUSTER_PG_HOST" "$CLUSTER_PG_PORT" ||
		die "no Postgres answers at $CLUSTER_PG_HOST:$CLUSTER_PG_PORT (CLUSTER_PG_HOST, CLUSTER_PG_PORT)"
	dir=$(schema_dir)
	say "Migrating $CLUSTER_DB and $CLUSTER_VISIBILITY_DB (schemas of $SERVER_MODULE@$(server_version))"
	migrate_db "$CLUSTER_DB" "$dir/temporal/versioned"
	migrate_db "$CLUSTER_VISIBILITY_DB" "$dir/visibility/versioned"
}

# ---------------------------------------------------------------------------------------
# the process

proc_args() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

running_pid() { # prints the pid of the server this script started, if it runs
	local pid
	[[ -f $PIDFILE ]] || return 1
	pid=$(<"$PIDFILE")
	[[ $(proc_args "$pid") == "$BIN/temporal-server"* ]] || return 1
	printf '%s\n' "$pid"
}

temporal() { "$BIN/temporal" "$@" --address "$ADDRESS"; }

healthy() { temporal operator cluster health >/dev/null 2>&1; }

# The namespace takes workflows once the frontend's namespace registry knows it: a
# visibility query in it is the first call that resolves the name.
namespace_ready() { temporal workflow count -n "$CLUSTER_NAMESPACE" >/dev/null 2>&1; }

wait_for() { # seconds what check...
	local secs=$1 what=$2 i
	shift 2
	for ((i = 0; i < secs * 2; i++)); do
		"$@" && return 0
		running_pid >/dev/null || failed "exited while $what"
		sleep 0.5
	done
	failed "was not $what after ${secs}s"
}

failed() {
	printf '\nERROR: the Temporal server %s. Last lines of %s:\n' "$1" "${LOG#"$ROOT"/}" >&2
	tail -n 30 "$LOG" | sed 's/^/    /' >&2
	exit 1
}

register_namespace() {
	if temporal operator namespace describe -n "$CLUSTER_NAMESPACE" >/dev/null 2>&1; then
		return 0
	fi
	say "Registering namespace $CLUSTER_NAMESPACE (retention $CLUSTER_NAMESPACE_RETENTION)"
	temporal operator namespace create -n "$CLUSTER_NAMESPACE" --retention "$CLUSTER_NAMESPACE_RETENTION" >/dev/null
}

cmd_start() {
	local pid p started=$SECONDS
	configure
	[[ -x $BIN/temporal ]] || die "bin/temporal (the Temporal CLI) is missing: make tools"
	[[ -x $BIN/temporal-server && -x $BIN/temporal-sql-tool ]] || die "bin/temporal-server is missing: make tools"
	mkdir -p "$LOGS" "$PIDS"
	if pid=$(running_pid); then
		say "The Temporal server is already running (pid $pid)"
	else
		while read -r p; do
			port_open 127.0.0.1 "$p" &&
				die "port $p is in use by another program (ss -ltnp 'sport = :$p'); choose other ports with CLUSTER_PORT"
		done < <(ports)
		migrate
		say "Starting the Temporal server $(server_version) on $ADDRESS, $CLUSTER_SHARDS history shards (log: ${LOG#"$ROOT"/})"
		: >"$LOG"
		setsid "$BIN/temporal-server" --root "$ROOT" --config deploy/cluster --env cluster \
			--allow-no-auth start >>"$LOG" 2>&1 </dev/null &
		printf '%s\n' "$!" >"$PIDFILE"
	fi
	wait_for 180 "serving" healthy
	register_namespace || failed "refused the namespace $CLUSTER_NAMESPACE"
	wait_for 60 "ready for namespace $CLUSTER_NAMESPACE" namespace_ready
	check_shards
	say "Temporal server ready at $ADDRESS (namespace $CLUSTER_NAMESPACE) after $((SECONDS - started))s; stop it with: ${suffix:+CLUSTER_PORT=$CLUSTER_PORT }make cluster-stop"
}

# The shard count is fixed by the first start; a later different CLUSTER_SHARDS is
# ignored by the server (with a warning in its log), so say so here too.
check_shards() {
	local shards
	shards=$(temporal operator cluster describe -o json | sed -nE 's/^[[:space:]]*"historyShardCount": ([0-9]+),?$/\1/p')
	if [[ $shards != "$CLUSTER_SHARDS" ]]; then
		printf 'WARNING: the server runs %s history shards, not CLUSTER_SHARDS=%s: the count is fixed when its databases are first used (scripts/cluster.sh reset drops them)\n' \
			"${shards:-an unknown number of}" "$CLUSTER_SHARDS" >&2
	fi
}

cmd_stop() {
	local pid i
	configure
	if ! pid=$(running_pid); then
		rm -f "$PIDFILE"
		say "The Temporal server is not running"
		return 0
	fi
	say "Stopping the Temporal server (pid $pid)"
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 120; i++)); do
		[[ -n $(proc_args "$pid") ]] || break
		sleep 0.25
	done
	if [[ -n $(proc_args "$pid") ]]; then
		printf 'WARNING: the Temporal server did not stop within 30s; killing it\n' >&2
		kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$PIDFILE"
}

cmd_status() {
	local pid
	configure
	if pid=$(running_pid); then
		printf 'running (pid %s): TEMPORAL_ADDRESS=%s TEMPORAL_NAMESPACE=%s\n' "$pid" "$ADDRESS" "$CLUSTER_NAMESPACE"
	else
		printf 'not running\n'
		return 1
	fi
}

cmd_check() {
	configure
	running_pid >/dev/null || die "the Temporal server is not running: make cluster"
	TEMPORAL_ADDRESS=$ADDRESS TEMPORAL_NAMESPACE=$CLUSTER_NAMESPACE go run ./cmd/clustercheck
}

cmd_reset() {
	configure
	cmd_stop
	say "Dropping $CLUSTER_DB and $CLUSTER_VISIBILITY_DB"
	sql_tool "$CLUSTER_DB" drop-database -f >/dev/null
	sql_tool "$CLUSTER_VISIBILITY_DB" drop-database -f >/dev/null
}

usage() { sed -n '2,/^set /{/^set /d;p}' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

case ${1:-help} in
build) cmd_build ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
check) cmd_check ;;
reset) cmd_reset ;;
help | -h | --help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
