#!/usr/bin/env bash
# AI-gateway throughput, latency, time to first token and memory: Pylon,
# Portkey's gateway and LiteLLM proxy in front of the same mock provider (nginx
# answering a fixed OpenAI chat completion), driven by the same wrk load.
# Prints a table `name rps p50_ms p99_ms rss_mb conns`, then the checks
#   pylon/portkey, pylon/litellm, added p99 @RATE rps, TTFT overhead, pylon RSS
# each with its target and PASS/MISS.
#
# Environment:
#   DURATION=10        seconds of measured wrk load per target (after WARMUP=2 s)
#   CONNS=64           wrk connections (one wrk thread) for every target
#   LITELLM_CONNS=     connections for LiteLLM only (default: CONNS); shown in the table
#   WRK_TIMEOUT=10s    wrk's per-request timeout (its default of 2 s times out LiteLLM at 64 connections)
#   RATE=1000          fixed rate (requests/s) for the added-latency run (hey, 10 workers)
#   FIXED_DURATION=10  seconds of the fixed-rate run, per target
#   TTFT_N=200         sequential streamed requests per target for time to first token
#   SKIP_PORTKEY=1 SKIP_LITELLM=1   leave a peer out
#   PORTKEY_VERSION=1.15.2 LITELLM_VERSION=1.106.12   peer versions (LiteLLM 1.107.0 is refused)
#   BENCH_CACHE=~/.cache/pylon-bench   where the peers are installed (npm, venv)
#   PYLON_BIN=path     use this binary instead of `cargo build --release -p pylon`
#   BENCH_KEEP_TMP=1   keep the scratch dir (configs, logs, Pylon's call log)
# Raw outputs are kept under bench/results/ai-<time>/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
LITELLM_CONNS=${LITELLM_CONNS:-$CONNS}
WRK_TIMEOUT=${WRK_TIMEOUT:-10s}
RATE=${RATE:-1000}
FIXED_DURATION=${FIXED_DURATION:-10}
TTFT_N=${TTFT_N:-200}
SKIP_PORTKEY=${SKIP_PORTKEY:-0}
SKIP_LITELLM=${SKIP_LITELLM:-0}
PORTKEY_VERSION=${PORTKEY_VERSION:-1.15.2}
LITELLM_VERSION=${LITELLM_VERSION:-1.106.12}
BENCH_CACHE=${BENCH_CACHE:-$HOME/.cache/pylon-bench}
PYLON_KEY=bench-key-0001
LITELLM_KEY=sk-bench-master
AI_DIR=$PWD/bench/ai
BODY='{"model":"bench","messages":[{"role":"user","content":"Say hello."}],"max_tokens":32}'

[[ "$LITELLM_VERSION" != 1.107.0 ]] || die "LiteLLM 1.107.0 is not to be used; pick another LITELLM_VERSION"
need_apt nginx wrk hey curl
PATH="$PATH:/usr/sbin:/sbin"
need_cmd nginx wrk hey curl python3
build_pylon

# ---- peers: installed once into $BENCH_CACHE ---------------------------------
PORTKEY_JS=$BENCH_CACHE/portkey-$PORTKEY_VERSION/node_modules/@portkey-ai/gateway/build/start-server.js
if [[ "$SKIP_PORTKEY" != 1 && ! -f "$PORTKEY_JS" ]]; then
	need_cmd node npm
	log "npm install @portkey-ai/gateway@$PORTKEY_VERSION into $BENCH_CACHE"
	mkdir -p "$BENCH_CACHE/portkey-$PORTKEY_VERSION"
	npm install --prefix "$BENCH_CACHE/portkey-$PORTKEY_VERSION" --no-audit --no-fund \
		"@portkey-ai/gateway@$PORTKEY_VERSION" >&2 || die "cannot install Portkey"
fi
LITELLM_VENV=$BENCH_CACHE/litellm-$LITELLM_VERSION/venv
if [[ "$SKIP_LITELLM" != 1 && ! -x "$LITELLM_VENV/bin/litellm" ]]; then
	log "pip install 'litellm[proxy]==$LITELLM_VERSION' into $LITELLM_VENV"
	python3 -m venv "$LITELLM_VENV"
	"$LITELLM_VENV/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION" >&2 || die "cannot install LiteLLM"
fi

bench_tmpdir
RESULTS_DIR="bench/results/ai-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RESULTS_DIR"
TABLE="$BENCH_TMP/table"
: >"$TABLE"
printf '%s' "$BODY" >"$BENCH_TMP/body.json"

# ---- helpers -----------------------------------------------------------------
# tree_rss PID: resident memory (kB) of PID and all its descendants.
tree_rss() {
	local all=() level=("$1") list
	while ((${#level[@]} > 0)); do
		all+=("${level[@]}")
		list=$(IFS=,; echo "${level[*]}")
		mapfile -t level < <(pgrep -P "$list" || true)
	done
	ps -o rss= -p "$(IFS=,; echo "${all[*]}")" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'
}

# rss_watch PID FILE: keep the peak of tree_rss PID (kB) in FILE, every 0.2 s.
rss_watch() {
	local pid=$1 file=$2 peak=0 now
	while kill -0 "$pid" 2>/dev/null; do
		now=$(tree_rss "$pid")
		if ((now > peak)); then
			peak=$now
			echo "$peak" >"$file"
		fi
		sleep 0.2
	done
}

# watch_rss NAME PID: start rss_watch in the background; RSS_WATCHER = its pid.
watch_rss() {
	echo 0 >"$BENCH_TMP/$1.rss"
	start_bg "rss-$1" rss_watch "$2" "$BENCH_TMP/$1.rss"
	RSS_WATCHER=$LAST_PID
}
peak_mb() { awk '{ printf "%.1f", $1 / 1024 }' "$BENCH_TMP/$1.rss"; }

# check_chat NAME URL [curl args]: one POST must answer 200 with a chat.completion.
check_chat() {
	local name=$1 url=$2 out code
	shift 2
	out="$RESULTS_DIR/$name.check.json"
	code=$(curl -s -o "$out" -w '%{http_code}' --max-time 30 -X POST -H 'content-type: application/json' \
		"$@" --data-binary "$BODY" "$url") || code=000
	if [[ "$code" != 200 ]] || ! grep -Eq '"object" *: *"chat\.completion"' "$out"; then
		die "$name: POST $url answered $code, not a chat.completion: $(head -c 400 "$out")"$'\n'"log tail: $(tail -5 "$BENCH_TMP/$name.log" 2>/dev/null)"
	fi
}

# run_load NAME URL CONNS [wrk -H args...]: warm up, measure, append a table row.
run_load() {
	local name=$1 url=$2 conns=$3 out row failed
	shift 3
	out="$RESULTS_DIR/$name.wrk"
	log "$name: warm-up ${WARMUP}s"
	wrk -t1 -c"$conns" -d"${WARMUP}s" --timeout "$WRK_TIMEOUT" -s "$AI_DIR/post.lua" "$@" "$url" >/dev/null
	log "$name: wrk -t1 -c$conns -d${DURATION}s --latency $url"
	wrk -t1 -c"$conns" -d"${DURATION}s" --timeout "$WRK_TIMEOUT" --latency -s "$AI_DIR/post.lua" "$@" "$url" >"$out"
	row=$(parse_wrk "$out") || die "$name: cannot parse wrk output ($out)"
	failed=$(wrk_failed "$out")
	if ((failed > 0)); then
		log "WARNING: $name had $failed failed requests (socket errors or non-2xx); see $out"
	fi
	echo "$name $row $conns" >>"$TABLE"
}

# fixed_rate NAME URL [hey -H args...]: RATE requests/s for FIXED_DURATION s with
# 10 workers on keep-alive connections; prints "p50_ms p99_ms".
fixed_rate() {
	local name=$1 url=$2 out
	shift 2
	out="$RESULTS_DIR/$name.hey"
	log "$name: hey -z ${FIXED_DURATION}s -c 10 -q $((RATE / 10)) (= $RATE requests/s)"
	hey -z "${FIXED_DURATION}s" -c 10 -q "$((RATE / 10))" -m POST -T application/json \
		-D "$BENCH_TMP/body.json" "$@" "$url" >"$out"
	if grep -A5 'Status code distribution' "$out" | grep -q '\[[013-9][0-9][0-9]\]'; then
		log "WARNING: $name: non-2xx answers in the fixed-rate run; see $out"
	fi
	awk '$1 == "50%" || $1 == "50%%" { p50 = $3 * 1000 } $1 == "99%" || $1 == "99%%" { p99 = $3 * 1000 }
		END { if (p99 == "") exit 1; printf "%.2f %.2f\n", p50, p99 }' "$out" ||
		die "$name: cannot parse hey output ($out)"
}

# ttft NAME URL AUTH: time to first token of streamed answers; prints "p50_ms p99_ms n".
ttft() {
	log "$1: time to first token, $TTFT_N streamed requests"
	python3 "$AI_DIR/ttft.py" "$2" "$3" "$TTFT_N" | tee "$RESULTS_DIR/$1.ttft"
}

# ---- the mock provider: nginx with fixed answers -------------------------------
MOCK_PORT=$(free_port)
MOCK=http://127.0.0.1:$MOCK_PORT
COMPLETION='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":9,"total_tokens":19}}'
chunk() { printf 'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini","choices":[%s]%s}\\n\\n' "$1" "${2:-}"; }
STREAM="$(chunk '{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}')$(
	chunk '{"index":0,"delta":{"content":"Hello!"},"finish_reason":null}')$(
	chunk '{"index":0,"delta":{"content":" How can I help"},"finish_reason":null}')$(
	chunk '{"index":0,"delta":{"content":" you today?"},"finish_reason":null}')$(
	chunk '{"index":0,"delta":{},"finish_reason":"stop"}')$(
	chunk '' ',"usage":{"prompt_tokens":10,"completion_tokens":9,"total_tokens":19}')data: [DONE]\n\n"
mkdir -p "$BENCH_TMP/mock"
cat >"$BENCH_TMP/mock.conf" <<EOF
worker_processes 1;
daemon off;
pid $BENCH_TMP/mock/nginx.pid;
error_log $BENCH_TMP/mock/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $BENCH_TMP/mock/body;
    proxy_temp_path $BENCH_TMP/mock/proxy;
    fastcgi_temp_path $BENCH_TMP/mock/fastcgi;
    uwsgi_temp_path $BENCH_TMP/mock/uwsgi;
    scgi_temp_path $BENCH_TMP/mock/scgi;
    keepalive_timeout 75s;
    keepalive_requests 10000000;
    server {
        listen 127.0.0.1:$MOCK_PORT reuseport backlog=4096;
        # whole answers; nginx refuses POST to static files, so 'return'
        location = /v1/chat/completions { default_type application/json; return 200 '$COMPLETION'; }
        # streamed answers, on a second base URL (/s/v1)
        location = /s/v1/chat/completions { default_type text/event-stream; return 200 '$STREAM'; }
        location = /health { return 200 'ok'; }
    }
}
EOF
start_bg mock nginx -p "$BENCH_TMP/mock" -e "$BENCH_TMP/mock/error.log" -c "$BENCH_TMP/mock.conf"
wait_http "$MOCK/health" 20 || die "mock nginx did not start: $(tail -5 "$BENCH_TMP/mock.log")"
log "mock provider on $MOCK"
check_chat direct "$MOCK/v1/chat/completions" -H 'authorization: Bearer dummy'
run_load direct "$MOCK/v1/chat/completions" "$CONNS" -H 'Authorization: Bearer dummy'

# ---- Pylon -------------------------------------------------------------------
# One worker (like Portkey's single node process and LiteLLM's one worker),
# key-auth, the call log (access log with the `ai` record: tokens, cost) to a
# file; token and cost accounting is always on for AI routes.
PYLON_PORT=$(free_port)
ADMIN_PORT=$(free_port)
CALL_LOG=$BENCH_TMP/pylon-calls.log
cat >"$BENCH_TMP/pylon.yaml" <<EOF
server:
  admin_listen: 127.0.0.1:$ADMIN_PORT
  data_dir: $BENCH_TMP/pylon-data
  watch_config: false
  access_log: { enabled: true, output: $CALL_LOG }
listeners:
  - { name: bench, bind: "127.0.0.1:$PYLON_PORT" }
ai:
  providers:
    - { name: mock, kind: openai_compatible, base_url: "$MOCK/v1", keys: [sk-bench-dummy] }
    - { name: mock-stream, kind: openai_compatible, base_url: "$MOCK/s/v1", keys: [sk-bench-dummy] }
  models:
    - { name: bench, deployments: [{ provider: mock, model: gpt-4o-mini }] }
    - { name: bench-stream, deployments: [{ provider: mock-stream, model: gpt-4o-mini }] }
consumers:
  - name: bench-app
    credentials: [{ type: key_auth, id: bench, key: $PYLON_KEY }]
routes:
  - name: ai
    match: { paths: [{ prefix: /v1 }] }
    ai: { models: [bench, bench-stream] }
    policies:
      - { name: key-auth, config: { key_names: [authorization] } }
EOF
PYLON=http://127.0.0.1:$PYLON_PORT
start_bg pylon "$PYLON_BIN" serve --config "$BENCH_TMP/pylon.yaml" --workers 1
pid=$LAST_PID
wait_http "http://127.0.0.1:$ADMIN_PORT/readyz" 30 || die "pylon: /readyz not 200: $(tail -5 "$BENCH_TMP/pylon.log")"
watch_rss pylon "$pid"
pylon_watcher=$RSS_WATCHER
check_chat pylon "$PYLON/v1/chat/completions" -H "authorization: Bearer $PYLON_KEY"
run_load pylon "$PYLON/v1/chat/completions" "$CONNS" -H "Authorization: Bearer $PYLON_KEY"
read -r FIX_PYLON_P50 FIX_PYLON_P99 < <(fixed_rate pylon "$PYLON/v1/chat/completions" -H "Authorization: Bearer $PYLON_KEY")
read -r FIX_DIRECT_P50 FIX_DIRECT_P99 < <(fixed_rate direct "$MOCK/v1/chat/completions" -H "Authorization: Bearer dummy")
read -r TTFT_DIRECT_P50 TTFT_DIRECT_P99 _ < <(ttft direct "$MOCK/s/v1/chat/completions" "Bearer dummy")
read -r TTFT_PYLON_P50 TTFT_PYLON_P99 _ < <(ttft pylon "$PYLON/v1/chat/completions" "Bearer $PYLON_KEY")
curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" >"$RESULTS_DIR/pylon.metrics" || true
stop_bg "$pid"
stop_bg "$pylon_watcher"
PYLON_RSS=$(peak_mb pylon)
# The call log must hold the runs' records, with tokens and cost.
CALLS=$(grep -c '"ai":{' "$CALL_LOG" || true)
COSTED=$(grep -c '"cost_usd":[0-9.e-]*[1-9]' "$CALL_LOG" || true)
DROPPED=$(awk '/^pylon_access_log_dropped_total/ { s += $2 } END { print s + 0 }' "$RESULTS_DIR/pylon.metrics")
tail -1 "$CALL_LOG" >"$RESULTS_DIR/pylon.call-record.json"
((COSTED > 0)) || die "pylon: no call record with a cost in $CALL_LOG"

# ---- Portkey -----------------------------------------------------------------
# One node process (its default), headless, bound to 127.0.0.1 by bench/ai/loopback.cjs.
if [[ "$SKIP_PORTKEY" != 1 ]]; then
	PK_PORT=$(free_port)
	PK=(-H "x-portkey-provider: openai" -H "x-portkey-custom-host: $MOCK/v1" -H "Authorization: Bearer dummy")
	NODE_ENV=production start_bg portkey node -r "$AI_DIR/loopback.cjs" "$PORTKEY_JS" --port="$PK_PORT" --headless
	pid=$LAST_PID
	wait_http "http://127.0.0.1:$PK_PORT/" 60 || die "portkey did not start: $(tail -5 "$BENCH_TMP/portkey.log")"
	check_chat portkey "http://127.0.0.1:$PK_PORT/v1/chat/completions" "${PK[@]}"
	watch_rss portkey "$pid"
	run_load portkey "http://127.0.0.1:$PK_PORT/v1/chat/completions" "$CONNS" "${PK[@]}"
	stop_bg "$RSS_WATCHER"
	stop_bg "$pid"
fi

# ---- LiteLLM -----------------------------------------------------------------
# One worker (--num_workers 1), no database, offline cost map.
if [[ "$SKIP_LITELLM" != 1 ]]; then
	LL_PORT=$(free_port)
	cat >"$BENCH_TMP/litellm.yaml" <<EOF
model_list:
  - model_name: bench
    litellm_params: { model: openai/gpt-4o-mini, api_base: "$MOCK/v1", api_key: dummy }
general_settings:
  master_key: $LITELLM_KEY
litellm_settings:
  telemetry: false
EOF
	LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False start_bg litellm \
		"$LITELLM_VENV/bin/litellm" --config "$BENCH_TMP/litellm.yaml" --host 127.0.0.1 --port "$LL_PORT" --num_workers 1
	pid=$LAST_PID
	wait_http "http://127.0.0.1:$LL_PORT/health/liveliness" 180 || die "litellm did not start: $(tail -5 "$BENCH_TMP/litellm.log")"
	check_chat litellm "http://127.0.0.1:$LL_PORT/v1/chat/completions" -H "authorization: Bearer $LITELLM_KEY"
	watch_rss litellm "$pid"
	run_load litellm "http://127.0.0.1:$LL_PORT/v1/chat/completions" "$LITELLM_CONNS" -H "Authorization: Bearer $LITELLM_KEY"
	stop_bg "$RSS_WATCHER"
	stop_bg "$pid"
fi

# ---- report ------------------------------------------------------------------
verdict() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo MISS; fi; }
rss_of() { if [[ -f "$BENCH_TMP/$1.rss" ]]; then peak_mb "$1"; else echo -; fi; }
rps_of() { awk -v n="$1" '$1 == n { print $2 }' "$TABLE"; }
PK_V=-
LL_V=-
[[ "$SKIP_PORTKEY" == 1 ]] || PK_V=$(node -p "require('${PORTKEY_JS%/build/*}/package.json').version")
[[ "$SKIP_LITELLM" == 1 ]] || LL_V=$("$LITELLM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))')
{
	echo "pylon $(git rev-parse --short HEAD 2>/dev/null || echo '?'), portkey $PK_V, litellm $LL_V; one process/worker each; wrk -t1 -d${DURATION}s"
	printf '%-10s %10s %9s %9s %8s %6s\n' name rps p50_ms p99_ms rss_mb conns
	while read -r n r p50 p99 c; do
		printf '%-10s %10s %9s %9s %8s %6s\n' "$n" "$r" "$p50" "$p99" "$(rss_of "$n")" "$c"
	done <"$TABLE"
	echo "(rss_mb: peak resident memory of the gateway's process tree while it ran; pylon's covers all its runs below)"
	echo "pylon call log: $CALLS records, $COSTED with a cost, $DROPPED dropped (file: access log with the ai record)"
	echo "fixed ${RATE} requests/s (hey, ${FIXED_DURATION}s): direct p50 $FIX_DIRECT_P50 p99 $FIX_DIRECT_P99 ms; pylon p50 $FIX_PYLON_P50 p99 $FIX_PYLON_P99 ms"
	echo "TTFT (${TTFT_N} sequential streams): direct p50 $TTFT_DIRECT_P50 p99 $TTFT_DIRECT_P99 ms; pylon p50 $TTFT_PYLON_P50 p99 $TTFT_PYLON_P99 ms"
	P=$(rps_of pylon)
	for peer in portkey litellm; do
		R=$(rps_of "$peer")
		T=25
		[[ $peer == litellm ]] && T=200
		if [[ -z "$R" ]]; then
			echo "pylon/$peer throughput: n/a (skipped) target >= $T"
		else
			X=$(awk -v p="$P" -v r="$R" 'BEGIN { printf "%.1f", p / r }')
			echo "pylon/$peer throughput: $X target >= $T $(verdict "$X >= $T")"
		fi
	done
	A=$(awk -v a="$FIX_PYLON_P99" -v b="$FIX_DIRECT_P99" 'BEGIN { printf "%.2f", a - b }')
	echo "added p99 @${RATE}rps: $A ms target < 1 ms $(verdict "$A < 1")"
	M=$(awk -v a="$TTFT_PYLON_P50" -v b="$TTFT_DIRECT_P50" 'BEGIN { printf "%.3f", a - b }')
	Q=$(awk -v a="$TTFT_PYLON_P99" -v b="$TTFT_DIRECT_P99" 'BEGIN { printf "%.3f", a - b }')
	echo "TTFT overhead: median $M ms (p99 $Q ms) target < 1 ms $(verdict "$M < 1")"
	echo "pylon RSS: $PYLON_RSS MB target < 50 MB $(verdict "$PYLON_RSS < 50")"
} | tee "$RESULTS_DIR/summary.txt"
echo "(raw outputs: $RESULTS_DIR)"
