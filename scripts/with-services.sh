#!/usr/bin/env bash
# Run a command with the services the tests need: a throwaway PostgreSQL on 127.0.0.1, a Java
# runtime for PySpark in local mode, and Debian's Chromium for browser tests.
# Installs the Debian packages when missing, starts the server, runs "$@", stops it, cleans up.
set -euo pipefail

# A free port unless one is given: other jobs on a shared machine may hold the usual ones.
PGPORT=${LONGTAIL_TEST_PGPORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
  echo "with-services: installing PostgreSQL from Debian packages" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq postgresql >/dev/null
fi
PGBIN=$(pg_bin)

# PySpark (backend parity tests) needs a Java runtime.
if ! command -v java >/dev/null 2>&1; then
  echo "with-services: installing a Java runtime from Debian packages (for PySpark)" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

# Browser tests drive Debian's Chromium through Playwright (Playwright's own download is not possible here).
if [ ! -x /usr/bin/chromium ]; then
  echo "with-services: installing Chromium from Debian packages (for browser tests)" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium >/dev/null
fi

PGDATA_DIR=$(mktemp -d -t longtail-pg.XXXXXX)
if [ "$(id -u)" -eq 0 ]; then
  # initdb refuses to run as root, so the cluster belongs to the postgres user.
  chown postgres:postgres "$PGDATA_DIR"; chmod 700 "$PGDATA_DIR"
  AS_PG=(runuser -u postgres --)
else
  AS_PG=()
fi
stop() {
  "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PGDATA_DIR"
}
trap stop EXIT

"${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
if ! "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$PGDATA_DIR/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDATA_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null; then
  echo "with-services: PostgreSQL did not start on 127.0.0.1:$PGPORT; its log:" >&2
  cat "$PGDATA_DIR/server.log" >&2
  exit 1
fi
"$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -qc "create database longtail_test" >/dev/null

export LONGTAIL_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PGPORT/longtail_test"
export LONGTAIL_REQUIRE_SERVICES=1
"$@"
