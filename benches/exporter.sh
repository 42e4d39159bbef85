#!/usr/bin/env bash
# `pgreach exporter` under load: scrapes per second, CPU per probe beside the single-probe
# process, and peak RSS with 500 probes in flight.
#
#   sudo benches/exporter.sh [PGREACH_BINARY]      (default: target/dist/pgreach)
#
# Build first:  cargo build --profile dist && cargo build --profile dist --example bench_listener
# Needs root, iproute2, ab (apache2-utils), python3, curl and bc. Everything runs inside a private
# network namespace:
#
#  A. Throughput. examples/bench_listener (SSLRequest → `N`, StartupMessage →
#     AuthenticationMD5Password, close: one cheap connection per probe, as in sweep.sh) on
#     0.0.0.0:6432; the exporter with its default module and --max-concurrent 256; `ab -k -c C
#     -n SCRAPES` asks /probe?target=127.1.0.1:6432 over and over. Scrapes/s is ab's figure;
#     the exporter's CPU (utime + stime from /proc/PID/stat) over the run, divided by the
#     probes, is its CPU per probe.
#  B. The single-probe process, the same probe: `pgreach --json 127.1.0.1:6432`, RUNS times in
#     a loop under GNU time (user + system of all of them).
#  C. Memory. A listener that accepts and never answers (python3) on 0.0.0.0:6433; a fresh
#     exporter (--max-concurrent 600) gets 500 scrapes at once (python3 threads), each with
#     X-Prometheus-Scrape-Timeout-Seconds: 10, so that 500 probes wait on their SSLRequest
#     together; pgreach_exporter_probes_in_flight is read while they wait, and VmHWM (peak RSS)
#     at the end.
set -euo pipefail

BIN=${1:-target/dist/pgreach}
BIN=$(readlink -f "$BIN")
LISTENER=${LISTENER:-$(dirname "$BIN")/examples/bench_listener}
SCRAPES=${SCRAPES:-20000}
C=${C:-32}
RUNS=${RUNS:-300}
IN_FLIGHT=${IN_FLIGHT:-500}
NS=pgr-bench-exp-$$
WORK=$(mktemp -d /tmp/pgr-bench-exp.XXXXXX)

die() { echo "exporter.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root (ip netns)"
[[ -x $BIN ]] || die "no pgreach binary at $BIN (cargo build --profile dist)"
[[ -x $LISTENER ]] || die "no listener at $LISTENER (cargo build --profile dist --example bench_listener)"
command -v ab >/dev/null || die "ab missing: apt-get install -y apache2-utils"

PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

printf 'modules:\n  default: { user: monitor, dbname: postgres }\n' >"$WORK/exporter.yml"

# exporter_start MAX: starts it, leaves its pid in EXPORTER.
exporter_start() {
    ip netns exec "$NS" "$BIN" exporter --listen 127.0.0.1:9932 --config "$WORK/exporter.yml" \
        --max-concurrent "$1" 2>"$WORK/exporter.log" &
    EXPORTER=$!
    PIDS+=("$EXPORTER")
    for _ in $(seq 100); do
        grep -q listening "$WORK/exporter.log" 2>/dev/null && return
        sleep 0.05
    done
    die "the exporter did not start: $(cat "$WORK/exporter.log")"
}

echo "pgreach exporter bench: $BIN, $(nproc) cores, load $(load1)"

# --- A. throughput -------------------------------------------------------------------------
ip netns exec "$NS" "$LISTENER" "0.0.0.0:6432" >"$WORK/listener.out" &
PIDS+=("$!")
sleep 0.3
exporter_start 256
URL='http://127.0.0.1:9932/probe?target=127.1.0.1:6432'
in_ns curl -sf "$URL" | grep -q '^probe_success' || die "the exporter does not answer $URL"
before=$(ticks "$EXPORTER")
in_ns ab -k -l -q -c "$C" -n "$SCRAPES" "$URL" >"$WORK/ab.txt" 2>&1 || die "ab: $(tail -5 "$WORK/ab.txt")"
after=$(ticks "$EXPORTER")
rate=$(awk '/Requests per second/ {print $4}' "$WORK/ab.txt")
failed=$(awk '/Failed requests/ {print $3}' "$WORK/ab.txt")
non2xx=$(awk '/Non-2xx/ {print $3}' "$WORK/ab.txt")
exp_cpu=$(echo "($after - $before) * 1000 / $HZ / $SCRAPES" | bc -l)
printf 'A. %s scrapes, %s at once: %8.0f scrapes/s   exporter CPU %.3f ms/probe   failed %s, non-2xx %s   load %s\n' \
    "$SCRAPES" "$C" "$rate" "$exp_cpu" "${failed:-0}" "${non2xx:-0}" "$(load1)"
kill "$EXPORTER"; wait "$EXPORTER" 2>/dev/null || true

# --- B. the single-probe process -----------------------------------------------------------
in_ns /usr/bin/time -f '%U %S' -o "$WORK/time.txt" \
    bash -c "for i in \$(seq $RUNS); do '$BIN' --json 127.1.0.1:6432 >/dev/null || true; done"
one_cpu=$(awk '{print ($1 + $2) * 1000 / '"$RUNS"'}' "$WORK/time.txt")
printf 'B. %s single-probe processes:                 CPU %.3f ms/probe (%.1f× the exporter'"'"'s)   load %s\n' \
    "$RUNS" "$one_cpu" "$(echo "$one_cpu / $exp_cpu" | bc -l)" "$(load1)"

# --- C. peak RSS with IN_FLIGHT probes waiting ----------------------------------------------
cat >"$WORK/silent.py" <<'EOF'
import resource, socket
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 6433))
s.listen(4096)
held = []
while True:
    c, _ = s.accept()
    held.append(c)  # never read, never answered
EOF
ip netns exec "$NS" python3 "$WORK/silent.py" &
PIDS+=("$!")
sleep 0.3
exporter_start 600
idle=$(awk '/VmRSS/ {print $2}' "/proc/$EXPORTER/status")
# ab sends one request alone before the others (and this one would wait 9.5 s): threads instead.
cat >"$WORK/flood.py" <<'EOF'
import sys, threading, urllib.request
n, url = int(sys.argv[1]), sys.argv[2]
go, codes = threading.Barrier(n), []
def one():
    req = urllib.request.Request(url, headers={"X-Prometheus-Scrape-Timeout-Seconds": "10"})
    go.wait()
    try:
        codes.append(urllib.request.urlopen(req, timeout=30).status)
    except Exception as e:
        codes.append(getattr(e, "code", 0))
threads = [threading.Thread(target=one) for _ in range(n)]
for t in threads: t.start()
for t in threads: t.join()
print("non-2xx", sum(1 for c in codes if c != 200))
EOF
ip netns exec "$NS" python3 "$WORK/flood.py" "$IN_FLIGHT" \
    'http://127.0.0.1:9932/probe?target=127.1.0.1:6433' >"$WORK/flood.txt" 2>&1 &
FLOOD=$!
sleep 4
flying=$(in_ns curl -sf http://127.0.0.1:9932/metrics | awk '/^pgreach_exporter_probes_in_flight / {print $2}')
fds=$(ls "/proc/$EXPORTER/fd" | wc -l)
wait "$FLOOD" || true
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$EXPORTER/status")
non2xx=$(awk '/non-2xx/ {print $2}' "$WORK/flood.txt")
printf 'C. %s scrapes of a silent server at once: %s probes in flight, %s descriptors; RSS idle %.1f MiB, peak %.1f MiB; non-2xx %s\n' \
    "$IN_FLIGHT" "$flying" "$fds" "$(echo "$idle / 1024" | bc -l)" "$(echo "$hwm / 1024" | bc -l)" "${non2xx:-0}"
