# Sourced by compare.sh and ab.sh: starts a PostgreSQL 15 with SSL for them, torn down on exit.
#
# The server is initdb'd as the postgres user in a temporary directory ($WORK), listens on
# 127.0.0.1:$PORT only, inside a private network namespace when `ip netns` works (else on the
# host's loopback); `run CMD...` runs a command there. The CA that issued its certificate is
# $WORK/ca.crt. Expects PG_BIN, PORT, KEY (rsa|ec) and die() from the sourcing script.

WORK=$(mktemp -d /tmp/pgreach-pg.XXXXXX)
NETNS=pgreach-bench-$$
IN_NS=()
cleanup() {
    if [[ -f $WORK/data/postmaster.pid ]]; then
        "${IN_NS[@]}" runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/data" -m immediate stop \
            >/dev/null 2>&1 || true
    fi
    [[ ${#IN_NS[@]} -gt 0 ]] && ip netns del "$NETNS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# A network namespace of our own, with only a loopback interface: nothing else on this
# machine shares the port, and nothing outside can be reached.
if ip netns add "$NETNS" 2>/dev/null; then
    IN_NS=(ip netns exec "$NETNS")
    ip -n "$NETNS" link set lo up
    WHERE="network namespace $NETNS, 127.0.0.1:$PORT"
else
    WHERE="host loopback, 127.0.0.1:$PORT"
fi
run() { "${IN_NS[@]}" "$@"; }

# --- certificates: a CA and a server leaf for localhost / 127.0.0.1 -------------------------
cd "$WORK"
if [[ $KEY == ec ]]; then
    keygen=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
else
    keygen=(-newkey rsa:2048)
fi
openssl req -x509 "${keygen[@]}" -nodes -days 365 -subj "/CN=pgreach compare CA" \
    -keyout ca.key -out ca.crt 2>/dev/null
openssl req "${keygen[@]}" -nodes -subj "/CN=localhost" -keyout server.key -out server.csr \
    2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >ext.cnf
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 365 \
    -extfile ext.cnf -out server.crt 2>/dev/null
chmod 0644 ca.crt

# --- the cluster ------------------------------------------------------------------------------
mkdir data
chown postgres: "$WORK" data server.key server.crt
chmod 0711 "$WORK"
chmod 0600 server.key
runuser -u postgres -- "$PG_BIN/initdb" -D "$WORK/data" -U postgres -A trust --no-sync \
    >"$WORK/initdb.log" 2>&1 || die "initdb failed: $(tail -5 "$WORK/initdb.log")"
cat >>data/postgresql.conf <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
ssl = on
ssl_cert_file = '$WORK/server.crt'
ssl_key_file = '$WORK/server.key'
max_connections = 50
fsync = off
EOF
# TCP needs a password (every client here stops at the auth request); the socket trusts.
cat >data/pg_hba.conf <<EOF
local all all trust
host all all 127.0.0.1/32 scram-sha-256
EOF
run runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w start \
    >/dev/null || die "PostgreSQL did not start: $(tail -5 "$WORK/server.log")"
