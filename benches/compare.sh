#!/usr/bin/env bash
# Times one pgreach TLS probe as a process beside the tools a person would otherwise run, all
# against the same real PostgreSQL 15 with SSL, in the same run:
#
#   pgreach (dist profile, one address, TLS, --quiet-server), pg_isready (sslmode prefer, require and
#   disable), psql failing at auth over TLS, openssl s_client -starttls postgres -CAfile, and
#   sslyze when installed.
#
# It prints a table of median wall time and user+sys CPU time with the ratios pgreach/other,
# then the time from process spawn to the first byte on the wire, and the binary size.
#
# The server is initdb'd as the postgres user in a temporary directory, listens on 127.0.0.1
# only, inside a private network namespace when `ip netns` works (else on the host's
# loopback), and is torn down on exit. Needs root (runuser, ip netns), PostgreSQL 15 under
# /usr/lib/postgresql/15/bin, openssl, python3 and hyperfine (`apt-get install -y hyperfine`).
#
# Usage: benches/compare.sh [RUNS]      (default 60 runs per command and round, 5 warm-up)
# Environment: ROUNDS (default 3: hyperfine runs every command in turn, ROUNDS times; each
#   figure is the median over the rounds, so a burst of load elsewhere during one command's
#   runs does not decide its figure), PORT (default 25433), PGREACH_BIN (default: build
#   target/dist/pgreach, from `cargo build --profile dist` as published binaries are),
#   PGREACH_BASELINE_BIN (an older pgreach build timed beside the current one),
#   KEY=rsa|ec (server key, default rsa: RSA 2048 like Debian's snakeoil certificate),
#   OUT (directory for the JSON exports; default: a temporary directory, kept).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=/usr/lib/postgresql/15/bin
RUNS=${1:-60}
ROUNDS=${ROUNDS:-3}
WARMUP=5
PORT=${PORT:-25433}
KEY=${KEY:-rsa}
OUT=${OUT:-$(mktemp -d /tmp/pgreach-compare.XXXXXX)}
mkdir -p "$OUT"

die() { echo "compare.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root (initdb as postgres via runuser, ip netns)"
[[ -x $PG_BIN/postgres ]] || die "PostgreSQL 15 server missing: apt-get install -y postgresql-15"
command -v hyperfine >/dev/null || die "hyperfine missing: apt-get install -y hyperfine"
command -v openssl >/dev/null || die "openssl missing"
command -v python3 >/dev/null || die "python3 missing"

if [[ -z ${PGREACH_BIN:-} ]]; then
    (cd "$ROOT" && cargo build --profile dist --quiet)
    PGREACH_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/dist/pgreach
fi
[[ -x $PGREACH_BIN ]] || die "no pgreach binary at $PGREACH_BIN"
# Absolute: the commands run from the cluster's directory.
PGREACH_BIN=$(readlink -f "$PGREACH_BIN")
if [[ -n ${PGREACH_BASELINE_BIN:-} ]]; then
    [[ -x $PGREACH_BASELINE_BIN ]] || die "no pgreach binary at $PGREACH_BASELINE_BIN"
    PGREACH_BASELINE_BIN=$(readlink -f "$PGREACH_BASELINE_BIN")
fi

# shellcheck source=benches/cluster.sh
source "$ROOT/benches/cluster.sh"

# --- the commands, each checked once before timing --------------------------------------------
CONN="host=127.0.0.1 port=$PORT user=postgres dbname=postgres"
VERIFY="sslmode=verify-full sslrootcert=$WORK/ca.crt"
names=() cmds=()
add() { names+=("$1"); cmds+=("$2"); }
add "pgreach" "$PGREACH_BIN --quiet-server --sslmode verify-full --sslrootcert $WORK/ca.crt -U postgres -d postgres --color never 127.0.0.1:$PORT"
if [[ -n ${PGREACH_BASELINE_BIN:-} ]]; then
    add "pgreach (baseline build)" "$PGREACH_BASELINE_BIN --quiet-server --sslmode verify-full --sslrootcert $WORK/ca.crt -U postgres -d postgres --color never 127.0.0.1:$PORT"
fi
add "pgreach (2 connections)" "$PGREACH_BIN --sslmode verify-full --sslrootcert $WORK/ca.crt -U postgres -d postgres --color never 127.0.0.1:$PORT"
add "pg_isready prefer (TLS)" "$PG_BIN/pg_isready -d '$CONN'"
add "pg_isready require (TLS)" "$PG_BIN/pg_isready -d '$CONN sslmode=require'"
add "pg_isready verify-full (TLS)" "$PG_BIN/pg_isready -d '$CONN $VERIFY'"
add "pg_isready disable (no TLS)" "$PG_BIN/pg_isready -d '$CONN sslmode=disable'"
add "psql -w, fails at auth (TLS)" "$PG_BIN/psql -w -X -d '$CONN $VERIFY' -c ''"
add "openssl s_client -CAfile" "openssl s_client -starttls postgres -connect 127.0.0.1:$PORT -CAfile $WORK/ca.crt -verify_return_error -brief"
if command -v sslyze >/dev/null; then
    add "sslyze --certinfo" "sslyze --certinfo --starttls postgres 127.0.0.1:$PORT"
fi

echo "compare.sh: PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') with SSL ($KEY key) in $WHERE"
for i in "${!cmds[@]}"; do
    # `eval set --` splits like hyperfine -N does (quotes group words); no shell is timed.
    eval "set -- ${cmds[$i]}"
    rc=0
    run "$@" </dev/null >"$OUT/check-$i.txt" 2>&1 || rc=$?
    echo "  check: ${names[$i]} -> exit $rc"
done

# --- timing -----------------------------------------------------------------------------------
echo "load before timing: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
rm -f "$OUT"/hyperfine-*.json  # an OUT given again must not mix in an earlier run's rounds
for round in $(seq 1 "$ROUNDS"); do
    hf=(hyperfine -N --runs "$RUNS" --warmup "$WARMUP" --ignore-failure --style basic
        --export-json "$OUT/hyperfine-$round.json")
    for i in "${!cmds[@]}"; do hf+=(-n "${names[$i]}" "${cmds[$i]}"); done
    run "${hf[@]}" >"$OUT/hyperfine-$round.txt" 2>&1 ||
        die "hyperfine failed: $(tail -5 "$OUT/hyperfine-$round.txt")"
done
echo "load after timing:  $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$OUT"/hyperfine-*.json <<'EOF'
import json, statistics, sys
rounds = [json.load(open(path))["results"] for path in sys.argv[1:]]
cpu = lambda r: (r["user"] + r["system"]) * 1e3
rows = []
for i, first in enumerate(rounds[0]):
    per_round = [res[i] for res in rounds]
    walls = [r["median"] * 1e3 for r in per_round]
    rows.append((first["command"], statistics.median(walls),
                 statistics.median(cpu(r) for r in per_round), walls))
ref = rows[0]
print()
print(f"median over {len(rounds)} rounds of each round's median wall time and mean CPU time")
print("| command | median wall ms | user+sys CPU ms (mean) | pgreach/other wall | pgreach/other CPU |")
print("|---|---:|---:|---:|---:|")
for name, wall, c, _ in rows:
    print("| %s | %.2f | %.2f | %.2f | %.2f |" % (name, wall, c, ref[1] / wall, ref[2] / c))
print()
print("wall medians per round, ms:")
for name, _, _, walls in rows:
    print("  %-32s %s" % (name, "  ".join("%.2f" % w for w in walls)))
EOF

# --- spawn to first byte ----------------------------------------------------------------------
# A listener on a port of its own timestamps (CLOCK_MONOTONIC) the arrival of the first byte of
# each connection; the launcher takes the same clock right before posix_spawn. The difference
# is process creation + dynamic loading + argument/config parsing + runtime start + connect()
# + the first send, i.e. everything before the SSLRequest reaches the wire. The listener
# answers 'N' and closes; the client's reaction to that is not timed.
echo
echo "spawn to first byte sent (median of 100, alternating, listener method):"
run python3 - "$PGREACH_BIN" "$PG_BIN/pg_isready" "$((PORT + 1))" <<'EOF'
import os, socket, sys, threading, time, statistics
pgreach, isready, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
SAMPLES = 100
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(16)
arrivals = []
def serve():
    while True:
        c, _ = srv.accept()
        c.recv(1)
        arrivals.append(time.monotonic_ns())
        try: c.sendall(b"N")
        except OSError: pass
        c.close()
threading.Thread(target=serve, daemon=True).start()
def once(argv):
    k = len(arrivals)
    t0 = time.monotonic_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ,
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                                       (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)])
    os.waitpid(pid, 0)
    while len(arrivals) == k: time.sleep(0.001)
    return (arrivals[k] - t0) / 1e6
clients = [
    ("pgreach --quiet-server --sslmode require", [pgreach, "--quiet-server", "--sslmode", "require", "-U", "postgres", "-d", "postgres", f"127.0.0.1:{port}"]),
    ("pg_isready sslmode=require", [isready, "-d", f"host=127.0.0.1 port={port} sslmode=require"]),
]
# Alternating, so that a burst of load elsewhere on the machine falls on both clients alike;
# the first rounds warm the page cache and are not counted.
times = {name: [] for name, _ in clients}
for i in range(SAMPLES + 3):
    for name, argv in clients:
        t = once(argv)
        if i >= 3: times[name].append(t)
for name, _ in clients:
    print(f"  {name:<45} median {statistics.median(times[name]):.2f} ms, min {min(times[name]):.2f} ms")
EOF

# --- binary size ------------------------------------------------------------------------------
echo
size=$(stat -c %s "$PGREACH_BIN")
strip -o "$OUT/pgreach.stripped" "$PGREACH_BIN"
echo "binary: $((size / 1024)) KiB as built, $(($(stat -c %s "$OUT/pgreach.stripped") / 1024)) KiB stripped ($PGREACH_BIN)"
echo "raw results: $OUT"
