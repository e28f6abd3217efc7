#!/usr/bin/env bash
# Cinder's own workload against Basalt: the matrix of /work/shared/anchors/cinder/run-bench.sh
# (load.py, unchanged), pointed at a release `basalt serve` over HTTPS, then summarize.py.
#
#   crates/bench/cinder-load.sh [BASALT_BINARY]     # default: target/release/basalt
#   REPS=1 COUNTS="0 100" crates/bench/cinder-load.sh
#
# The server runs in a fresh data directory under $OUT with the benchmark configuration
# (over-subscription raised, everything else default); the admin's project gets unlimited
# quotas. load.py trusts Basalt's CA through SSL_CERT_FILE and sends a real admin token.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ANCHOR=${CINDER_ANCHOR:-/work/shared/anchors/cinder}
BIN=$(realpath "${1:-$HERE/../../target/release/basalt}")
REPS=${REPS:-3}
COUNTS=${COUNTS:-0 100 1000}
LIFE_REPS=${LIFE_REPS:-$REPS}
LIFE_N=${LIFE_N:-100}
STARTUP_RUNS=${STARTUP_RUNS:-5}
DUR=${DUR:-10}
OUT=${OUT:-/tmp/basalt-cinder-load/$(date +%Y%m%d-%H%M%S)}
PASSWORD=bench-admin-secret
mkdir -p "$OUT"
DATA=$OUT/data
CONFIG=$OUT/basalt.toml
PIDFILE=$OUT/basalt.pid

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ID_ADDR=127.0.0.1:$(free_port)
API_ADDR=127.0.0.1:$(free_port)
SERVE=("$BIN" --data-dir "$DATA" --config "$CONFIG" serve --identity-addr "$ID_ADDR" --api-addr "$API_ADDR" --nbd-addr 127.0.0.1:0)
say() { printf '[basalt-load %s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/log.txt" >&2; }
snap() { { echo "== $1 $(date -Is) loadavg: $(cat /proc/loadavg)";
           ps -eo pid,pcpu,rss,etime,comm --sort=-pcpu | head -8; } >>"$OUT/host.txt"; }

cat >"$CONFIG" <<'EOF'
[[backends]]
name = "file"
driver = "file"
path = "volumes"
availability_zone = "nova"
over_subscription_ratio = 1000000.0
reserved_percentage = 0
EOF

start_server() {
  BASALT_ADMIN_PASSWORD=$PASSWORD "${SERVE[@]}" >>"$OUT/server.out" 2>>"$OUT/server.log" &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 200); do
    grep -q ' is serving: ' "$OUT/server.out" 2>/dev/null && return 0
    sleep 0.05
  done
  say "basalt did not start; see $OUT/server.log"; exit 1
}
stop_server() {  # only the process this script started
  local pid; pid=$(cat "$PIDFILE")
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}
trap 'stop_server' EXIT

say "results -> $OUT; server $BIN"
start_server
export SSL_CERT_FILE=$DATA/tls/ca.pem
AUTH=$(curl -sS -D - -o "$OUT/token.json" --cacert "$SSL_CERT_FILE" -H 'Content-Type: application/json' \
  -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"},\"password\":\"$PASSWORD\"}}},\"scope\":{\"project\":{\"name\":\"admin\",\"domain\":{\"id\":\"default\"}}}}}" \
  "https://$ID_ADDR/v3/auth/tokens")
TOKEN=$(printf '%s' "$AUTH" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-subject-token"{print $2}')
PROJECT=$(jq -r .token.project.id "$OUT/token.json")
curl -sS -o /dev/null -w '%{http_code}\n' --cacert "$SSL_CERT_FILE" -X PUT -H "X-Auth-Token: $TOKEN" \
  -H 'Content-Type: application/json' -d '{"quota_set": {"volumes": -1, "gigabytes": -1}}' \
  "https://$API_ADDR/v2/$PROJECT/os-quota-sets/$PROJECT" | grep -q 200

L=(python3 "$ANCHOR/load.py" --url "https://$API_ADDR" --project "$PROJECT" --token "$TOKEN")
PF=(--pidfile "$PIDFILE")
"${L[@]}" probe >"$OUT/probe.json"
snap start
"${L[@]}" --out "$OUT/rss-idle.json" rss "$PIDFILE"
for n in $COUNTS; do
  say "seed $n"
  "${L[@]}" --out "$OUT/seed-$n.json" seed "$n"
  sleep 3
  for r in $(seq 1 "$REPS"); do
    snap "list n=$n rep=$r"
    "${L[@]}" "${PF[@]}" --out "$OUT/list-$n-r$r.json" list --concurrency 1,16 --duration "$DUR"
  done
done
"${L[@]}" --out "$OUT/rss-after-list.json" rss "$PIDFILE"
say "seed 0 (cleanup)"
"${L[@]}" --out "$OUT/seed-cleanup.json" seed 0
sleep 3
for r in $(seq 1 "$LIFE_REPS"); do
  snap "lifecycle rep=$r"
  say "lifecycle rep $r"
  "${L[@]}" "${PF[@]}" --out "$OUT/lifecycle-r$r.json" lifecycle --n "$LIFE_N" --workers 1,8
done
"${L[@]}" --out "$OUT/rss-end.json" rss "$PIDFILE"

if [ "$STARTUP_RUNS" -gt 0 ]; then
  say "startup x$STARTUP_RUNS (restarts on the same data directory)"
  stop_server
  trap - EXIT
  snap startup
  BASALT_ADMIN_PASSWORD=$PASSWORD "${L[@]}" --out "$OUT/startup.json" startup --runs "$STARTUP_RUNS" \
    --log "$OUT/startup-server.log" -- "${SERVE[@]}"
fi
snap end
python3 "$ANCHOR/summarize.py" "$OUT" | tee "$OUT/summary.md"
say "done: $OUT"
