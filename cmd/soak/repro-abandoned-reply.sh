#!/usr/bin/env bash
# Reproduces, in about a minute, the bug the soak found in docs/RELIABILITY.md
# ("an abandoned reply wedges its conversation"): an agent's reply whose HTTP request
# is given up while no workflow worker runs is deleted by the starter, but its update,
# already admitted, still reaches the conversation workflow; SendMessage fails
# not_found, MarkMessageFailed then fails "message: not found" and is retried for ever,
# so after the agent closes the conversation the run never ends, and the customer's
# next message — acknowledged 200 — is never recorded.
#
# Needs what one `make soak` leaves: ./bin/{temporal,graphsim,worker,starter} and the
# soak's private Postgres cluster in .data/soak/postgres (started and stopped here).
# Uses the soak's ports and a database of its own, fbchannel_repro.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$ROOT/bin
W=$ROOT/.data/soak/repro
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGDATA=$ROOT/.data/soak/postgres
as_pg() { if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
[[ -x $BIN/worker && -s $PGDATA/PG_VERSION ]] || { echo "run make soak once first" >&2; exit 2; }
rm -rf "$W" && mkdir -p "$W"
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$ROOT/.data/soak/logs/postgres.log" -w start >/dev/null 2>&1 || true
psql -X -q postgres://postgres@127.0.0.1:55442/postgres -c 'DROP DATABASE IF EXISTS fbchannel_repro WITH (FORCE)' -c 'CREATE DATABASE fbchannel_repro'

export DATABASE_URL='postgres://postgres@127.0.0.1:55442/fbchannel_repro?sslmode=disable'
export TEMPORAL_ADDRESS=127.0.0.1:17233 GRAPH_API_URL=http://127.0.0.1:18090 SIM_ADDR=127.0.0.1:18090
export HTTP_ADDR=127.0.0.1:18080 PUBLIC_BASE_URL=http://127.0.0.1:18080 OPS_ADDR=127.0.0.1:19090
export ADMIN_TOKEN=repro-admin SECRETS_KEY=$(head -c32 /dev/urandom | base64)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null || true; done
	sleep 3
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$BIN/temporal" server start-dev --ip 127.0.0.1 --port 17233 --http-port 17243 --headless --log-level error \
	--search-attribute ConversationStatus=Keyword --search-attribute FacebookPageID=Keyword \
	--search-attribute CustomerPSID=Keyword --search-attribute AgentID=Keyword >"$W/temporal.log" 2>&1 &
pids+=($!)
until "$BIN/temporal" operator cluster health --address 127.0.0.1:17233 >/dev/null 2>&1; do sleep 0.5; done
"$BIN/graphsim" >"$W/graphsim.log" 2>&1 &
pids+=($!)
"$BIN/worker" >"$W/worker.log" 2>&1 &
WORKER=$!
pids+=($WORKER)
sleep 3
"$BIN/starter" >"$W/starter.log" 2>&1 &
pids+=($!)
until curl -sf localhost:18080/readyz >/dev/null; do sleep 0.5; done

j() { curl -sS -H 'Content-Type: application/json' "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
SECRET=reprosecret0123456789 TOKEN=EAArepro0123456789 PAGE=100000000000777 PSID=200000000000777
j -XPOST localhost:18090/_sim/apps -d "{\"app_id\":\"repro-app\",\"app_secret\":\"$SECRET\"}" >/dev/null
j -XPOST localhost:18090/_sim/pages -d "{\"page_id\":\"$PAGE\",\"access_token\":\"$TOKEN\",\"app_id\":\"repro-app\",\"scopes\":[\"pages_messaging\",\"pages_manage_metadata\"]}" >/dev/null
ADMIN=(-H "Authorization: Bearer $ADMIN_TOKEN")
ACC=$(j -XPOST localhost:18080/api/v1/accounts "${ADMIN[@]}" -d "{\"name\":\"R\",\"app_id\":\"repro-app\",\"app_secret\":\"$SECRET\"}" | field id)
CB=$(j -XPOST "localhost:18080/api/v1/accounts/$ACC/pages" "${ADMIN[@]}" -d "{\"name\":\"P\",\"page_id\":\"$PAGE\",\"access_token\":\"$TOKEN\"}" | field callback_url)
AGENT=$(j -XPOST localhost:18080/api/v1/agents "${ADMIN[@]}" -d '{"name":"A","email":"a@repro.example","capacity":3}' | field token)
AG=(-H "Authorization: Bearer $AGENT")
sleep 3
j -XPUT localhost:18080/api/v1/me/presence "${AG[@]}" -d '{"status":"available"}' >/dev/null
say() { printf '\n== %s\n' "$*"; }
customer() { j -XPOST localhost:18090/_sim/customer/messages -d "{\"callback_url\":\"$CB\",\"app_secret\":\"$SECRET\",\"page_id\":\"$PAGE\",\"psid\":\"$PSID\",\"text\":\"$1\",\"mid\":\"$2\"}"; echo; }
sql() { psql -X -tA "$DATABASE_URL" -c "$1"; }

say "1. the customer writes; the conversation is assigned to the agent"
customer "Hello" m_repro_1
CONV=
for _ in $(seq 60); do
	CONV=$(j localhost:18080/api/v1/me/conversations "${AG[@]}" | python3 -c 'import json,sys; l=[c["id"] for c in json.load(sys.stdin) if c["status"]=="assigned"]; print(l[0] if l else "")')
	[[ -n $CONV ]] && break
	sleep 0.5
done
echo "conversation $CONV"

say "2. no workflow worker runs (SIGSTOP); the agent replies and its client gives up after 5s"
kill -STOP "$WORKER"
j -XPOST "localhost:18080/api/v1/conversations/$CONV/messages" "${AG[@]}" -d '{"text":"Hi, how can I help?"}' --max-time 5 || echo "(the client gave up)"
sleep 1
echo "outbound rows now (before 4d3a69b the starter had deleted the reply): [$(sql "select id||' '||status from messages where direction='outbound'")]"

say "3. the worker is back: the admitted update reaches the workflow"
kill -CONT "$WORKER"
sleep 8
grep -o '"ActivityType":"\(SendMessage\|MarkMessageFailed\)","Attempt":[0-9]*,"Error":"[^"]*"' "$W/worker.log" | tail -3 || true

say "4. the agent closes (200); the customer writes again (webhook 200)"
j -XPOST "localhost:18080/api/v1/conversations/$CONV/close" "${AG[@]}" --max-time 20
echo
sleep 2
customer "Are you still there?" m_repro_2
sleep 10

say "5. result"
echo "inbound_events: $(sql "select string_agg(event_key, ' ' order by received_at) from inbound_events")"
echo "recorded:       $(sql "select string_agg(facebook_message_id, ' ' order by created_at) from messages where direction='inbound'")"
echo "runs of conversation:$PAGE:$PSID (before 4d3a69b the closed run never ended):"
"$BIN/temporal" workflow list --address 127.0.0.1:17233 -q "WorkflowId='conversation:$PAGE:$PSID'" 2>/dev/null || true
echo "MarkMessageFailed attempts so far: $(grep -c '"ActivityType":"MarkMessageFailed"' "$W/worker.log" || true)"
if [[ $(sql "select count(*) from messages where facebook_message_id = 'm_repro_2'") == 0 ]]; then
	echo "REPRODUCED: m_repro_2 was acknowledged 200 and is not in the transcript"
	exit 1
fi
echo "not reproduced: m_repro_2 is in the transcript"
