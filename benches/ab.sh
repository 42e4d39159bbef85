#!/usr/bin/env bash
# CPU per probe of several pgreach builds, alternated: one process of each in turn (the order
# reversed every other round), ROUNDS times, each a `--quiet-server --sslmode verify-full` probe
# of the same PostgreSQL 15 with SSL (set up as compare.sh does, benches/cluster.sh). Load from
# elsewhere on the machine then falls on every build alike, which hyperfine's block of runs per
# command does not ensure.
#
#   sudo benches/ab.sh ROUNDS NAME=BINARY...      e.g. ab.sh 300 new=target/dist/pgreach old=/tmp/old
#
# Prints, per build, the median user+sys CPU of a probe process (from wait4's rusage) and its
# ratio to the first build's. The binaries are copied into one fresh directory first: where a
# binary file lies changed its CPU by 12-20% here (page cache, minor faults), more than the
# code under test. With CALLGRIND=N it also counts the instructions of N probes of each build
# under valgrind --tool=callgrind, which is not disturbed by other load at all.
# Environment: PORT (default 25533), KEY=rsa|ec (server key, default rsa).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_BIN=/usr/lib/postgresql/15/bin
PORT=${PORT:-25533}
KEY=${KEY:-rsa}

die() { echo "ab.sh: $*" >&2; exit 1; }
[[ $# -ge 2 ]] || die "usage: ab.sh ROUNDS NAME=BINARY..."
[[ $(id -u) -eq 0 ]] || die "run as root (initdb as postgres via runuser, ip netns)"
[[ -x $PG_BIN/postgres ]] || die "PostgreSQL 15 server missing: apt-get install -y postgresql-15"
ROUNDS=$1
shift

BINS=$(mktemp -d /tmp/pgreach-ab.XXXXXX)
builds=()
for arg in "$@"; do
    name=${arg%%=*} bin=${arg#*=}
    [[ -x $bin ]] || die "no binary at $bin"
    cp "$bin" "$BINS/${#builds[@]}"
    builds+=("$name=$BINS/${#builds[@]}")
done

# shellcheck source=benches/cluster.sh
source "$ROOT/benches/cluster.sh"
trap 'cleanup; rm -rf "$BINS"' EXIT INT TERM

echo "ab.sh: PostgreSQL 15 with SSL ($KEY key) in $WHERE"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min)"
run python3 - "$ROUNDS" "$WORK/ca.crt" "$PORT" "${CALLGRIND:-0}" "${builds[@]}" <<'EOF'
import os, re, statistics, subprocess, sys

rounds, ca, port, callgrind = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
builds = [a.split("=", 1) for a in sys.argv[5:]]

def argv(binary):
    return [binary, "--quiet-server", "--sslmode", "verify-full", "--sslrootcert", ca,
            "-U", "postgres", "-d", "postgres", "--color", "never", f"127.0.0.1:{port}"]

def cpu_ms(binary):
    quiet = [(os.POSIX_SPAWN_OPEN, fd, "/dev/null", os.O_WRONLY, 0) for fd in (1, 2)]
    pid = os.posix_spawn(binary, argv(binary), os.environ, file_actions=quiet)
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"ab.sh: {binary} failed")
    return (usage.ru_utime + usage.ru_stime) * 1e3

WARMUP = 5
cpu = {name: [] for name, _ in builds}
for i in range(WARMUP + rounds):
    for name, binary in builds if i % 2 == 0 else builds[::-1]:
        t = cpu_ms(binary)
        if i >= WARMUP:
            cpu[name].append(t)
first = statistics.median(cpu[builds[0][0]])
print(f"user+sys CPU per probe process, median of {rounds} alternated runs:")
for name, _ in builds:
    median = statistics.median(cpu[name])
    q1, _, q3 = statistics.quantiles(cpu[name], n=4)
    print(f"  {name:<32} {median:6.2f} ms (quartiles {q1:.2f}-{q3:.2f})  "
          f"/ {builds[0][0]}: {median / first:.3f}")

if callgrind:
    print(f"instructions per probe process (callgrind, median of {callgrind}):")
    counts = {}
    for name, binary in builds:
        runs = []
        for _ in range(callgrind):
            out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
                                 + argv(binary), capture_output=True, text=True).stderr
            runs.append(int(re.search(r"Collected : (\d+)", out).group(1)))
        counts[name] = statistics.median(runs)
    for name, _ in builds:
        print(f"  {name:<32} {counts[name] / 1e6:7.3f} M  "
              f"/ {builds[0][0]}: {counts[name] / counts[builds[0][0]]:.4f}")
EOF
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
