#!/usr/bin/env bash
# Sweep throughput and memory, compared in the same run with `xargs -P 32 pg_isready`.
#
#   sudo benches/sweep.sh [PGREACH_BINARY]      (default: target/release/pgreach)
#
# Everything runs inside a private network namespace: one PostgreSQL 15 cluster listening on
# '*' (trust for 127.0.0.0/8, max_connections 1000) and 10,000 targets spread over 127.0.x.y
# addresses (every 127/8 address reaches the cluster there). Reports probes/s and peak RSS
# (/usr/bin/time -v) for pgreach sweep and for pg_isready, then peak RSS of a 100,000-line
# sweep at --concurrency 512 (against closed ports, so the input and the bookkeeping are
# what is measured). Needs root, iproute2, PostgreSQL 15, GNU time and bc.
set -euo pipefail

BIN=${1:-target/release/pgreach}
BIN=$(readlink -f "$BIN")
PG=/usr/lib/postgresql/15/bin
N=${N:-10000}
BIG=${BIG:-100000}
NS=pgr-bench-$$
WORK=$(mktemp -d /tmp/pgr-bench.XXXXXX)
chmod 755 "$WORK"
chown postgres "$WORK"

cleanup() {
    runuser -u postgres -- "$PG/pg_ctl" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }

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

# 10,000 distinct addresses: 127.1.0.0 .. 127.1.39.15 (10,000 = 40 * 250).
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "127.1.%d.%d:5432\n", int(i / 250), i % 250 + 1 }' \
    >"$WORK/targets.txt"
sed 's/:5432$//' "$WORK/targets.txt" >"$WORK/hosts.txt"

measure() { # label, command...: prints "label  seconds  rss"
    local label=$1; shift
    local start end
    start=$(date +%s.%N)
    in_ns /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" || true
    end=$(date +%s.%N)
    local rss secs
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
    secs=$(echo "$end - $start" | bc -l)
    printf '%-44s %8.2f s %10.0f probes/s %8.1f MiB peak RSS\n' \
        "$label" "$secs" "$(echo "$N / $secs" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
}

echo "pgreach: $("$BIN" --version)   targets: $N   cores: $(nproc)"
measure "pgreach sweep (default flags)" \
    "$BIN" sweep "$WORK/targets.txt" -U postgres -d postgres --per-host-concurrency 2
lines=$(grep -c '"type":"target"' "$WORK/out.txt" || true)
ok=$(grep -c '"libpq_reaches_auth":true' "$WORK/out.txt" || true)
echo "    target lines: $lines, reaching auth: $ok"
measure "pgreach sweep --quiet-server --concurrency 512" \
    "$BIN" sweep "$WORK/targets.txt" -U postgres -d postgres --quiet-server --concurrency 512
measure "xargs -P 32 pg_isready" \
    sh -c "xargs -P 32 -I{} $PG/pg_isready -q -h {} -p 5432 -U postgres -d postgres <'$WORK/hosts.txt'"

# 100,000 input lines at --concurrency 512 against closed ports (refused at once).
awk -v n="$BIG" 'BEGIN { for (i = 0; i < n; i++)
    printf "127.2.%d.%d:%d\n", int(i / 250) % 256, i % 250 + 1, 6000 + int(i / 64000) }' >"$WORK/big.txt"
N=$BIG measure "pgreach sweep 100k lines, --concurrency 512" \
    "$BIN" sweep "$WORK/big.txt" --concurrency 512 --quiet-server
echo "    target lines: $(grep -c '"type":"target"' "$WORK/out.txt" || true)"
