#!/usr/bin/env bash
# Hot reload under load: Pylon with 10,000 routes (each an exact path /r/{i} and
# a template /t/{i}/{id}) to an nginx static origin, serving `wrk -t1 -c32 -d20s`
# on one route while the config is reloaded 20 times by SIGHUP, alternating
# between two variants of the file. Prints wrk's figures, the reload times that
# Pylon logs ("config reloaded", field `ms`), and as the last two lines:
#   failed requests: N
#   reload time: median X ms, max Y ms (20 reloads)
#
# Environment:
#   ROUTES=10000  RELOADS=20  INTERVAL=0.8 (s between reloads)  DURATION=20  CONNS=32
#   PYLON_BIN=path  use this binary instead of `cargo build --release -p pylon`
#   BENCH_KEEP_TMP=1  keep the scratch dir (configs, Pylon's log) for inspection
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

ROUTES=${ROUTES:-10000}
RELOADS=${RELOADS:-20}
INTERVAL=${INTERVAL:-0.8}
DURATION=${DURATION:-20}
CONNS=${CONNS:-32}

need_apt nginx wrk curl
PATH="$PATH:/usr/sbin:/sbin"
need_cmd nginx wrk curl python3
build_pylon

bench_tmpdir
RESULTS_DIR="bench/results/reload-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RESULTS_DIR"

# ---- origin: nginx returning a small fixed body ------------------------------
ORIGIN_PORT=$(free_port)
mkdir -p "$BENCH_TMP/origin"
cat >"$BENCH_TMP/origin.conf" <<EOF
worker_processes 1;
daemon off;
pid $BENCH_TMP/origin/nginx.pid;
error_log $BENCH_TMP/origin/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $BENCH_TMP/origin/body;
    proxy_temp_path $BENCH_TMP/origin/proxy;
    fastcgi_temp_path $BENCH_TMP/origin/fastcgi;
    uwsgi_temp_path $BENCH_TMP/origin/uwsgi;
    scgi_temp_path $BENCH_TMP/origin/scgi;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
        location / { default_type text/plain; return 200 "ok\n"; }
    }
}
EOF
start_bg origin nginx -p "$BENCH_TMP/origin" -e "$BENCH_TMP/origin/error.log" -c "$BENCH_TMP/origin.conf"
wait_http "http://127.0.0.1:$ORIGIN_PORT/" 20 || die "origin nginx did not start (log: $BENCH_TMP/origin.log)"

# ---- the two config variants --------------------------------------------------
PYLON_PORT=$(free_port)
ADMIN_PORT=$(free_port)
CFG="$BENCH_TMP/pylon.yaml"
# Variant a and b differ in the last route's paths, so every reload is a real change.
# watch_config is off: only SIGHUP reloads, exactly once per signal.
python3 - "$BENCH_TMP" "$ROUTES" "$PYLON_PORT" "$ADMIN_PORT" "$ORIGIN_PORT" <<'EOF'
import sys
tmp, n, port, admin, origin = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
head = f"""server:
  admin_listen: 127.0.0.1:{admin}
  data_dir: {tmp}/pylon-data
  watch_config: false
  access_log: {{ enabled: false }}
listeners:
  - name: bench
    bind: 127.0.0.1:{port}
upstreams:
  - name: origin
    targets: [{{ address: "127.0.0.1:{origin}" }}]
routes:
"""
for variant in ("a", "b"):
    parts = [head]
    for i in range(n):
        suffix = f"-{variant}" if i == n - 1 else ""
        parts.append(
            f"  - name: r{i}\n"
            f"    match: {{ paths: [{{ exact: /r/{i}{suffix} }}, {{ template: \"/t/{i}{suffix}/{{id}}\" }}] }}\n"
            f"    upstream: origin\n"
        )
    with open(f"{tmp}/pylon-{variant}.yaml", "w") as f:
        f.write("".join(parts))
EOF
cp "$BENCH_TMP/pylon-a.yaml" "$CFG"
log "config: $ROUTES routes, $(wc -c <"$CFG") bytes"

# ---- Pylon ------------------------------------------------------------------
PYLON_LOG_FILE="$BENCH_TMP/pylon.log"
start_bg pylon env PYLON_LOG_FORMAT=json "$PYLON_BIN" serve --config "$CFG"
PYLON_PID=$LAST_PID
wait_http "http://127.0.0.1:$ADMIN_PORT/readyz" 60 ||
	die "pylon /readyz not 200; log tail:"$'\n'"$(tail -5 "$PYLON_LOG_FILE")"
TARGET="http://127.0.0.1:$PYLON_PORT/r/$((ROUTES / 2))"
wait_http "$TARGET" 10 || die "pylon does not route $TARGET"
wait_http "http://127.0.0.1:$PYLON_PORT/t/$((ROUTES / 2))/42" 10 || die "pylon does not route the template route"
log "pylon pid $PYLON_PID ready; RSS $(awk -v k="$(ps -o rss= -p "$PYLON_PID")" 'BEGIN { printf "%.1f", k / 1024 }') MB"

# ---- load + reloads ---------------------------------------------------------------
WRK_OUT="$RESULTS_DIR/wrk.txt"
log "wrk -t1 -c$CONNS -d${DURATION}s --latency $TARGET, with $RELOADS reloads ${INTERVAL}s apart"
wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$TARGET" >"$WRK_OUT" &
WRK_PID=$!
BENCH_PIDS+=("$WRK_PID")
sleep 1
# For each reload: swap the file atomically, SIGHUP, then wait until /readyz
# reports the next config generation (end-to-end time, file parse included).
python3 - "$BENCH_TMP" "$CFG" "$PYLON_PID" "$ADMIN_PORT" "$RELOADS" "$INTERVAL" >"$BENCH_TMP/e2e.txt" <<'EOF'
import json, os, shutil, signal, sys, time, urllib.request
tmp, cfg, pid, admin, reloads, interval = sys.argv[1:7]
pid, reloads, interval = int(pid), int(reloads), float(interval)
def generation():
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=2) as r:
        return json.load(r).get("config_generation")
for i in range(reloads):
    t0 = time.monotonic()
    variant = "b" if i % 2 == 0 else "a"
    shutil.copy(f"{tmp}/pylon-{variant}.yaml", f"{cfg}.tmp")
    os.replace(f"{cfg}.tmp", cfg)
    before = generation()
    t1 = time.monotonic()
    os.kill(pid, signal.SIGHUP)
    seen = None
    while time.monotonic() - t1 < 10:
        g = generation()
        if g != before:
            seen = (time.monotonic() - t1) * 1e3
            break
        time.sleep(0.002)
    print(f"{seen:.1f}" if seen is not None else "timeout", flush=True)
    rest = interval - (time.monotonic() - t0)
    if rest > 0:
        time.sleep(rest)
EOF
wait "$WRK_PID" || die "wrk failed"
sleep 0.5

# ---- report -----------------------------------------------------------------
cp "$PYLON_LOG_FILE" "$RESULTS_DIR/pylon.log"
cp "$BENCH_TMP/e2e.txt" "$RESULTS_DIR/e2e.txt"
cat "$WRK_OUT"
read -r RPS P50 P99 < <(parse_wrk "$WRK_OUT") || die "cannot parse wrk output"
FAILED=$(wrk_failed "$WRK_OUT")
echo "wrk: $RPS req/s, p50 $P50 ms, p99 $P99 ms"
python3 - "$PYLON_LOG_FILE" "$BENCH_TMP/e2e.txt" "$RELOADS" <<'EOF'
import json, statistics, sys
log, e2e, expected = sys.argv[1], sys.argv[2], int(sys.argv[3])
ms, refused = [], 0
for line in open(log, errors="replace"):
    try:
        rec = json.loads(line)
    except ValueError:
        continue
    msg = rec.get("message") or rec.get("fields", {}).get("message", "")
    if msg == "config reloaded":
        v = rec.get("ms", rec.get("fields", {}).get("ms"))
        if v is not None:
            ms.append(float(v))
    elif "reload refused" in str(msg):
        refused += 1
e2e_ms = [float(x) for x in open(e2e).read().split() if x != "timeout"]
timeouts = open(e2e).read().split().count("timeout")
if e2e_ms:
    print(f"end-to-end (SIGHUP -> new generation on /readyz, parse included): "
          f"median {statistics.median(e2e_ms):.1f} ms, max {max(e2e_ms):.1f} ms, {timeouts} timed out")
if refused:
    print(f"WARNING: {refused} reload(s) refused; see the log")
if len(ms) != expected:
    print(f"WARNING: {len(ms)} 'config reloaded' lines, expected {expected}")
with open(sys.argv[1] + ".summary", "w") as f:
    if ms:
        f.write(f"{len(ms)} {statistics.median(ms):.1f} {max(ms):.1f}\n")
    else:
        f.write("0 n/a n/a\n")
EOF
read -r COUNT MEDIAN MAX <"$PYLON_LOG_FILE.summary"
echo "failed requests: $FAILED"
echo "reload time: median $MEDIAN ms, max $MAX ms ($COUNT reloads)"
if [[ "$COUNT" != "$RELOADS" ]]; then
	exit 1
fi
