#!/usr/bin/env bash
# Sweep throughput and memory, compared in the same run with `xargs -P 32 pg_isready`.
#
#   sudo benches/sweep.sh [PGREACH_BINARY]      (default: target/dist/pgreach)
#
# Build first:  cargo build --profile dist && cargo build --profile dist --example bench_listener
# (the listener is looked for in examples/ beside the binary, or set LISTENER=PATH).
#
# Everything runs inside a private network namespace, in three parts:
#
#  A. Local listeners (the issue's throughput target). examples/bench_listener answers
#     SSLRequest with `N` and the StartupMessage with AuthenticationMD5Password, then closes:
#     enough for pg_isready to say "accepting connections" and for pgreach to classify md5, for
#     ~30 µs of CPU per connection, so the clients are what is measured. It listens on
#     0.0.0.0:6432, which every 127/8 address reaches inside the namespace; the N targets are
#     distinct 127.1.x.y addresses. Each tool gets a fresh listener (its counters: connections,
#     SSLRequests, startups), and the namespace's TCP PassiveOpens counter gives the connections
#     per target, so like is compared with like: pg_isready with sslmode=prefer opens one
#     (SSLRequest, then the startup on the same connection); so does pgreach here, because
#     after `N` its startup goes over the same connection and there is no TLS channel to ask
#     about (against a server answering `S` it opens a second one for plaintext, unless
#     --quiet-server). ROUNDS rounds (default 2), each timing all three commands back to back.
#  B. One real PostgreSQL 15 cluster (listen '*', trust for 127.0.0.0/8, max_connections 1000,
#     ssl off, so again one connection per target), same number of targets. PostgreSQL forks a
#     backend per connection, so on a small machine this measures the server's fork rate more
#     than the clients.
#  C. Peak RSS of a 100,000-line sweep at --concurrency 512 against closed ports (refused at
#     once), so the input and the bookkeeping are what is measured.
#
# Reports wall time, probes/s, peak RSS (GNU time; for xargs the largest single process), CPU
# time per probe (user + system of the command and all its children; the server's is not
# counted) and the load average (1 min) after each command: the machine may be shared, and
# then CPU per probe is the steadier figure. Needs root,
# iproute2, PostgreSQL 15, GNU time and bc.
set -euo pipefail

BIN=${1:-target/dist/pgreach}
BIN=$(readlink -f "$BIN")
LISTENER=${LISTENER:-$(dirname "$BIN")/examples/bench_listener}
PG=/usr/lib/postgresql/15/bin
N=${N:-10000}
BIG=${BIG:-100000}
ROUNDS=${ROUNDS:-2}
LPORT=6432
NS=pgr-bench-$$
WORK=$(mktemp -d /tmp/pgr-bench.XXXXXX)
chmod 755 "$WORK"
chown postgres "$WORK"

die() { echo "sweep.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root (ip netns, runuser)"
[[ -x $BIN ]] || die "no pgreach binary at $BIN (cargo build --profile dist)"
[[ -x $LISTENER ]] || die "no listener at $LISTENER (cargo build --profile dist --example bench_listener)"

LISTENER_PID=
cleanup() {
    [[ -n $LISTENER_PID ]] && kill "$LISTENER_PID" 2>/dev/null
    runuser -u postgres -- "$PG/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }

load1() { cut -d' ' -f1 /proc/loadavg; }

# TCP connections accepted inside the namespace so far (PassiveOpens of its /proc/net/snmp):
# the server side's count, whatever the server.
passive_opens() {
    in_ns awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "PassiveOpens") c = i; h = 1 }
                         else print $c }' /proc/net/snmp
}

# measure LABEL TARGETS COMMAND...: runs it in the namespace under GNU time, prints one line
# and leaves the figures in SECS and RATE.
measure() {
    local label=$1 n=$2; shift 2
    local start end rss cpu opens
    opens=$(passive_opens)
    start=$(date +%s.%N)
    in_ns /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || true
    end=$(date +%s.%N)
    OPENS=$(($(passive_opens) - opens))
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
    # user + system, children included (every pg_isready process for the xargs loop).
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$WORK/time.txt")
    SECS=$(echo "$end - $start" | bc -l)
    RATE=$(echo "$n / $SECS" | bc -l)
    printf '  %-46s %7.2f s %8.0f probes/s %7.1f MiB peak RSS %8.3f ms CPU/probe   load %s\n' \
        "$label" "$SECS" "$RATE" "$(echo "$rss / 1024" | bc -l)" "$(echo "$cpu * 1000 / $n" | bc -l)" \
        "$(load1)"
    printf '      connections accepted: %s (%.2f per target)\n' "$OPENS" "$(echo "$OPENS / $n" | bc -l)"
}

# A fresh listener per command, so its counters belong to that command alone.
listener_start() {
    rm -f "$WORK/listener.stats" "$WORK/listener.out"
    # Not through in_ns: a function run in the background is a subshell, and $! its pid.
    ip netns exec "$NS" "$LISTENER" --stats "$WORK/listener.stats" "0.0.0.0:$LPORT" \
        >"$WORK/listener.out" &
    LISTENER_PID=$!
    for _ in $(seq 100); do
        grep -q listening "$WORK/listener.out" 2>/dev/null && return
        sleep 0.05
    done
    die "the listener did not start: $(cat "$WORK/listener.out")"
}
listener_stop() { # prints the listener's counters
    kill "$LISTENER_PID"
    wait "$LISTENER_PID" 2>/dev/null || true
    LISTENER_PID=
    printf '      listener: %s\n' "$(cat "$WORK/listener.stats")"
}
pgreach_check() {
    printf '      target lines: %s, reaching auth: %s\n' \
        "$(grep -c '"type":"target"' "$WORK/out.txt" || true)" \
        "$(grep -c '"libpq_reaches_auth":true' "$WORK/out.txt" || true)"
}

# N distinct addresses: 127.1.0.1 .. (250 per /24).
targets() { # PORT
    awk -v n="$N" -v port="$1" \
        'BEGIN { for (i = 0; i < n; i++) printf "127.1.%d.%d:%d\n", int(i / 250), i % 250 + 1, port }'
}
targets "$LPORT" >"$WORK/listener-targets.txt"
targets 5432 >"$WORK/pg-targets.txt"
sed 's/:[0-9]*$//' "$WORK/pg-targets.txt" >"$WORK/hosts.txt"

# pg_isready as the issue describes the loop: one process per target, 32 at a time, libpq's
# default sslmode (prefer). xargs exits non-zero if any pg_isready did.
isready() { # PORT
    echo "xargs -P 32 -I{} $PG/pg_isready -q -h {} -p $1 -U postgres -d postgres <'$WORK/hosts.txt' \
        && echo all-accepting"
}
isready_check() {
    if grep -q all-accepting "$WORK/out.txt"; then
        echo "      pg_isready: every target accepting connections"
    else
        echo "      pg_isready: some targets NOT accepting (see the listener's counters)"
    fi
}

echo "pgreach: $("$BIN" --version)   targets: $N   cores: $(nproc)   rounds: $ROUNDS"
echo "$(uptime)"
echo
echo "A. local listeners (bench_listener: N to SSLRequest, then md5; the issue's 10x target)"
for round in $(seq "$ROUNDS"); do
    echo " round $round"
    listener_start
    measure "pgreach sweep (defaults)" "$N" \
        "$BIN" sweep "$WORK/listener-targets.txt" -U postgres -d postgres
    r_default=$RATE
    pgreach_check
    listener_stop
    listener_start
    measure "pgreach sweep --quiet-server (1 connection)" "$N" \
        "$BIN" sweep "$WORK/listener-targets.txt" -U postgres -d postgres --quiet-server
    r_quiet=$RATE
    pgreach_check
    listener_stop
    listener_start
    measure "xargs -P 32 pg_isready (sslmode prefer)" "$N" sh -c "$(isready "$LPORT")"
    r_isready=$RATE
    isready_check
    listener_stop
    printf '  ratio to pg_isready: defaults %.1fx, --quiet-server %.1fx\n' \
        "$(echo "$r_default / $r_isready" | bc -l)" "$(echo "$r_quiet / $r_isready" | bc -l)"
done

echo
echo "B. one real PostgreSQL 15 cluster (a backend fork per connection: measures the server too)"
runuser -u postgres -- "$PG/initdb" -D "$WORK/data" -A trust -U postgres >/dev/null
cat >>"$WORK/data/postgresql.conf" <<CONF
listen_addresses = '*'
port = 5432
max_connections = 1000
unix_socket_directories = '$WORK'
logging_collector = off
log_connections = off
CONF
echo "host all all 127.0.0.0/8 trust" >"$WORK/data/pg_hba.conf"
echo "local all all trust" >>"$WORK/data/pg_hba.conf"
in_ns runuser -u postgres -- "$PG/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w -t 30 start >/dev/null
measure "pgreach sweep (defaults)" "$N" \
    "$BIN" sweep "$WORK/pg-targets.txt" -U postgres -d postgres
r_default=$RATE
pgreach_check
measure "pgreach sweep --quiet-server --concurrency 512" "$N" \
    "$BIN" sweep "$WORK/pg-targets.txt" -U postgres -d postgres --quiet-server --concurrency 512
pgreach_check
measure "xargs -P 32 pg_isready (sslmode prefer)" "$N" sh -c "$(isready 5432)"
r_isready=$RATE
isready_check
printf '  ratio to pg_isready (defaults): %.1fx\n' "$(echo "$r_default / $r_isready" | bc -l)"
runuser -u postgres -- "$PG/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true

echo
echo "C. memory: $BIG input lines at --concurrency 512 (closed ports)"
awk -v n="$BIG" 'BEGIN { for (i = 0; i < n; i++)
    printf "127.2.%d.%d:%d\n", int(i / 250) % 256, i % 250 + 1, 6000 + int(i / 64000) }' >"$WORK/big.txt"
measure "pgreach sweep ${BIG} lines, --concurrency 512" "$BIG" \
    "$BIN" sweep "$WORK/big.txt" --concurrency 512 --quiet-server
echo "      target lines: $(grep -c '"type":"target"' "$WORK/out.txt" || true)"
