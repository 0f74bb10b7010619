# shellcheck shell=bash
# Shared helpers for the benchmark scripts in bench/. Source it; do not run it.
#
#   free_port                 print a TCP port on 127.0.0.1 that is free right now
#   wait_http URL [SECS]      wait until URL answers 200 (default 20 s); non-zero on timeout
#   need_apt PKG...           install the Debian packages that are missing (apt-get update once)
#   need_cmd CMD...           fail with a clear message when a command is missing
#   parse_wrk FILE            print "rps p50_ms p99_ms" from the output of `wrk --latency`
#   wrk_failed FILE           print socket errors + non-2xx/3xx responses from wrk output
#   build_pylon               cargo build --release -p pylon; sets PYLON_BIN (or uses $PYLON_BIN)
#   bench_tmpdir              make the scratch dir ($BENCH_TMP) and install the cleanup trap
#   start_bg NAME CMD...      start CMD in the background, log to $BENCH_TMP/NAME.log,
#                             remember its pid for the trap; the pid is left in $LAST_PID

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH_PIDS=()

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
	printf '[bench] error: %s\n' "$*" >&2
	exit 1
}

free_port() {
	python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

wait_http() {
	local url=$1 secs=${2:-20} i
	for ((i = 0; i < secs * 10; i++)); do
		if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null)" == 200 ]]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

_APT_UPDATED=0
need_apt() {
	local missing=() p sudo=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	command -v apt-get >/dev/null || die "missing packages ${missing[*]} and no apt-get to install them"
	[[ $(id -u) -eq 0 ]] || sudo=(sudo)
	if ((_APT_UPDATED == 0)); then
		log "apt-get update"
		"${sudo[@]}" apt-get update -qq
		_APT_UPDATED=1
	fi
	log "apt-get install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || die "command not found: $c"
	done
}

# wrk prints latencies as e.g. 812.00us, 1.23ms, 1.05s, 1.20m; requests/s as a plain number.
parse_wrk() {
	awk '
		function ms(v) {
			if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
			if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
			if (v ~ /m$/)  { sub(/m$/, "", v);  return v * 60000 }
			if (v ~ /h$/)  { sub(/h$/, "", v);  return v * 3600000 }
			if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
			return v + 0
		}
		/^Requests\/sec:/ { rps = $2 }
		$1 == "50%" && p50 == "" { p50 = ms($2) }
		$1 == "99%" && p99 == "" { p99 = ms($2) }
		END {
			if (rps == "" || p50 == "" || p99 == "") { exit 1 }
			printf "%.0f %.3f %.3f\n", rps, p50, p99
		}
	' "$1"
}

wrk_failed() {
	awk '
		/Socket errors:/ {
			for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) { v = $i; sub(/,/, "", v); n += v }
		}
		/Non-2xx or 3xx responses:/ { n += $NF }
		END { print n + 0 }
	' "$1"
}

build_pylon() {
	if [[ -n "${PYLON_BIN:-}" ]]; then
		[[ -x "$PYLON_BIN" ]] || die "PYLON_BIN=$PYLON_BIN is not an executable"
		return 0
	fi
	log "cargo build --release -p pylon"
	(cd "$BENCH_ROOT" && cargo build --release -p pylon) || die "cannot build pylon"
	PYLON_BIN="${CARGO_TARGET_DIR:-$BENCH_ROOT/target}/release/pylon"
	[[ -x "$PYLON_BIN" ]] || die "no binary at $PYLON_BIN"
}

_bench_cleanup() {
	local pid
	for pid in "${BENCH_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${BENCH_PIDS[@]}"; do
		# give each a moment to exit, then insist
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -9 "$pid" 2>/dev/null || true
	done
	if [[ -n "${BENCH_TMP:-}" && -d "$BENCH_TMP" && -z "${BENCH_KEEP_TMP:-}" ]]; then
		rm -rf "$BENCH_TMP"
	fi
}

bench_tmpdir() {
	BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/pylon-bench.XXXXXX")"
	trap _bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

start_bg() {
	local name=$1
	shift
	"$@" >"$BENCH_TMP/$name.log" 2>&1 &
	LAST_PID=$!
	BENCH_PIDS+=("$LAST_PID")
}

# stop_bg PID: stop one process started with start_bg and wait for it to go.
stop_bg() {
	local pid=$1
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
