#!/usr/bin/env bash
# Reverse-proxy throughput and latency: nginx, HAProxy and Pylon in front of the
# same nginx static origin, one worker each, keep-alive to the origin, no access
# logs, driven by the same wrk run. Prints a table `name rps p50_ms p99_ms`,
# Pylon's idle RSS, and as the last line:
#   pylon/nginx throughput ratio: X.XX, p99 ratio: Y.YY
#
# Environment:
#   DURATION=10     seconds of measured load per run (after a WARMUP=2 s warm-up)
#   CONNS=64        wrk connections (one wrk thread)
#   SKIP_PYLON=1    skip building and running Pylon (peers only)
#   PYLON_BIN=path  use this binary instead of `cargo build --release -p pylon`
#   BENCH_PIN=1     pin the proxy under test to CPU 1 and origin + wrk to CPU 0
#   BENCH_KEEP_TMP=1  keep the scratch dir (configs, logs) for inspection
# Raw wrk outputs are kept under bench/results/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
SKIP_PYLON=${SKIP_PYLON:-0}
BODY="pylon bench origin: 0123456789abcdef0123456789abcdef"

need_apt nginx haproxy wrk curl
PATH="$PATH:/usr/sbin:/sbin"
need_cmd nginx haproxy wrk curl python3
[[ "$SKIP_PYLON" == 1 ]] || build_pylon

bench_tmpdir
RESULTS_DIR="bench/results/proxy-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RESULTS_DIR"
TABLE="$BENCH_TMP/table"
: >"$TABLE"

PIN_LOAD=()
PIN_PROXY=()
if [[ "${BENCH_PIN:-0}" == 1 ]]; then
	need_cmd taskset
	PIN_LOAD=(taskset -c 0)
	PIN_PROXY=(taskset -c 1)
fi

# nginx writes temp files and logs under its prefix; keep all of it in $BENCH_TMP.
nginx_common() {
	local name=$1
	mkdir -p "$BENCH_TMP/$name"
	cat <<EOF
worker_processes 1;
daemon off;
pid $BENCH_TMP/$name/nginx.pid;
error_log $BENCH_TMP/$name/error.log warn;
events { worker_connections 4096; }
EOF
}

nginx_http_common() {
	local name=$1
	cat <<EOF
    access_log off;
    client_body_temp_path $BENCH_TMP/$name/body;
    proxy_temp_path $BENCH_TMP/$name/proxy;
    fastcgi_temp_path $BENCH_TMP/$name/fastcgi;
    uwsgi_temp_path $BENCH_TMP/$name/uwsgi;
    scgi_temp_path $BENCH_TMP/$name/scgi;
    keepalive_timeout 75s;
    keepalive_requests 10000000;
EOF
}

start_nginx() {
	local name=$1 conf=$2
	shift 2
	start_bg "$name" "$@" nginx -p "$BENCH_TMP/$name" -e "$BENCH_TMP/$name/error.log" -c "$conf"
}

# run_load NAME URL [extra wrk args...]: warm up, measure, append a table row.
run_load() {
	local name=$1 url=$2
	shift 2
	local out="$RESULTS_DIR/$name.wrk" row failed
	log "$name: warm-up ${WARMUP}s"
	"${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$@" "$url" >/dev/null
	log "$name: wrk -t1 -c$CONNS -d${DURATION}s --latency $url"
	"${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url" >"$out"
	row=$(parse_wrk "$out") || die "$name: cannot parse wrk output ($out)"
	failed=$(wrk_failed "$out")
	if ((failed > 0)); then
		log "WARNING: $name had $failed failed requests (socket errors or non-2xx); see $out"
	fi
	echo "$name $row" >>"$TABLE"
}

# check_proxy NAME URL: the proxy answers 200 with the origin's body.
check_proxy() {
	local name=$1 url=$2 got
	wait_http "$url" 20 ||
		die "$name did not answer 200 on $url; log tail:"$'\n'"$(tail -5 "$BENCH_TMP/$name.log" 2>/dev/null)"
	got=$(curl -s --max-time 2 "$url")
	[[ "$got" == "$BODY" ]] || die "$name returned an unexpected body: $got"
}

# ---- origin: nginx returning a small fixed body ------------------------------
ORIGIN_PORT=$(free_port)
{
	nginx_common origin
	cat <<EOF
http {
$(nginx_http_common origin)
    server {
        listen 127.0.0.1:$ORIGIN_PORT reuseport backlog=4096;
        location / {
            default_type text/plain;
            return 200 "$BODY";
        }
    }
}
EOF
} >"$BENCH_TMP/origin.conf"
start_nginx origin "$BENCH_TMP/origin.conf" "${PIN_LOAD[@]}"
wait_http "http://127.0.0.1:$ORIGIN_PORT/" 20 || die "origin nginx did not start (log: $BENCH_TMP/origin.log)"
log "origin on 127.0.0.1:$ORIGIN_PORT"

# Reference only: the origin without a proxy in front.
run_load direct "http://127.0.0.1:$ORIGIN_PORT/"

# ---- nginx as reverse proxy -------------------------------------------------
PORT=$(free_port)
{
	nginx_common nginx
	cat <<EOF
http {
$(nginx_http_common nginx)
    upstream origin {
        server 127.0.0.1:$ORIGIN_PORT;
        keepalive 64;
        keepalive_requests 10000000;
    }
    server {
        listen 127.0.0.1:$PORT backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
} >"$BENCH_TMP/nginx.conf"
start_nginx nginx "$BENCH_TMP/nginx.conf" "${PIN_PROXY[@]}"
pid=$LAST_PID
check_proxy nginx "http://127.0.0.1:$PORT/"
run_load nginx "http://127.0.0.1:$PORT/"
stop_bg "$pid"

# ---- HAProxy as reverse proxy -----------------------------------------------
PORT=$(free_port)
cat >"$BENCH_TMP/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend bench
    bind 127.0.0.1:$PORT
    default_backend origin

backend origin
    server origin 127.0.0.1:$ORIGIN_PORT
EOF
start_bg haproxy "${PIN_PROXY[@]}" haproxy -db -f "$BENCH_TMP/haproxy.cfg"
pid=$LAST_PID
check_proxy haproxy "http://127.0.0.1:$PORT/"
run_load haproxy "http://127.0.0.1:$PORT/"
stop_bg "$pid"

# ---- Pylon ------------------------------------------------------------------
# pylon_config NAME [extra YAML appended at the end]: write a Pylon config that
# proxies everything to the origin; prints its path and sets PYLON_PORT/ADMIN_PORT.
pylon_config() {
	local name=$1 extra=${2:-} cfg="$BENCH_TMP/$1.yaml"
	local access_log=${ACCESS_LOG:-"{ enabled: false }"}
	PYLON_PORT=$(free_port)
	ADMIN_PORT=$(free_port)
	cat >"$cfg" <<EOF
server:
  admin_listen: 127.0.0.1:$ADMIN_PORT
  data_dir: $BENCH_TMP/$name-data
  watch_config: false
  access_log: $access_log
listeners:
  - name: bench
    bind: 127.0.0.1:$PYLON_PORT
upstreams:
  - name: origin
    targets: [{ address: "127.0.0.1:$ORIGIN_PORT" }]
routes:
  - name: all
    match: { paths: [{ prefix: / }] }
    upstream: origin
$extra
EOF
	PYLON_CFG=$cfg
}

# run_pylon NAME CONFIG [extra wrk args, e.g. -H "apikey: ..."]: start Pylon with
# one worker, record its idle RSS in PYLON_RSS_MB, measure, stop.
run_pylon() {
	local name=$1 cfg=$2 pid rss_kb
	shift 2
	start_bg "$name" "${PIN_PROXY[@]}" "$PYLON_BIN" serve --config "$cfg" --workers 1
	pid=$LAST_PID
	wait_http "http://127.0.0.1:$ADMIN_PORT/readyz" 30 ||
		die "$name: /readyz not 200 (log: $BENCH_TMP/$name.log): $(tail -5 "$BENCH_TMP/$name.log")"
	sleep 0.5
	rss_kb=$(ps -o rss= -p "$pid" | tr -d ' ')
	PYLON_RSS_MB=$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')
	if [[ $# -eq 0 ]]; then
		check_proxy "$name" "http://127.0.0.1:$PYLON_PORT/"
	fi
	run_load "$name" "http://127.0.0.1:$PYLON_PORT/" "$@"
	stop_bg "$pid"
}

PLAIN_RSS=""
if [[ "$SKIP_PYLON" != 1 ]]; then
	pylon_config pylon
	run_pylon pylon "$PYLON_CFG"
	PLAIN_RSS=$PYLON_RSS_MB

	# ---- Pylon with policies ------------------------------------------------
	# key-auth on every route, a rate limit that never trips, and the access log
	# written to a file: first with the in-process limiter, then with Redis.
	policies() {
		cat <<EOF
consumers:
  - name: bench
    credentials: [{ type: key_auth, key: bench-key-0001 }]
policies:
  - name: key-auth
  - name: rate-limit
    config:
      key_by: consumer
      limits: [{ per: minute, limit: 50000000 }]
      backend: $1
EOF
	}
	ACCESS_LOG="{ enabled: true, output: $BENCH_TMP/access.log }" \
		pylon_config pylon-policies "$(policies local)"
	run_pylon pylon-policies "$PYLON_CFG" -H "x-api-key: bench-key-0001"
	if [[ "${SKIP_REDIS:-0}" != 1 ]] && [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == PONG ]]; then
		ACCESS_LOG="{ enabled: true, output: $BENCH_TMP/access-redis.log }" \
			pylon_config pylon-redis "$(policies redis)"
		run_pylon pylon-redis "$PYLON_CFG" -H "x-api-key: bench-key-0001"
	else
		log "Redis not answering on 127.0.0.1:6379 (or SKIP_REDIS=1): no pylon-redis run"
	fi
fi

# ---- report -----------------------------------------------------------------
{
	printf '%-16s %10s %9s %9s\n' name rps p50_ms p99_ms
	while read -r n r p50 p99; do
		printf '%-16s %10s %9s %9s\n' "$n" "$r" "$p50" "$p99"
	done <"$TABLE"
} | tee "$RESULTS_DIR/summary.txt"
echo "(raw wrk output: $RESULTS_DIR)"
if [[ "$SKIP_PYLON" == 1 ]]; then
	echo "pylon/nginx throughput ratio: n/a, p99 ratio: n/a (SKIP_PYLON=1)"
	exit 0
fi
echo "pylon idle RSS: ${PLAIN_RSS} MB"
awk '
	$1 == "nginx" { nr = $2; np99 = $4 }
	$1 == "pylon" { pr = $2; pp99 = $4 }
	$1 == "pylon-policies" { lr = $2 }
	$1 == "pylon-redis" { rr = $2 }
	END {
		if (lr > 0) printf "policies (key-auth + local rate limit + access log) / plain pylon throughput ratio: %.2f\n", lr / pr
		if (rr > 0) printf "policies (key-auth + redis rate limit + access log) / plain pylon throughput ratio: %.2f\n", rr / pr
		printf "pylon/nginx throughput ratio: %.2f, p99 ratio: %.2f\n", pr / nr, (np99 > 0 ? pp99 / np99 : 0)
	}
' "$TABLE" | tee -a "$RESULTS_DIR/summary.txt"
