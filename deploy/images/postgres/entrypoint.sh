#!/bin/sh
# Start Postgres the way the official image does for the environment the chart sets: on first
# start (no PG_VERSION in PGDATA) initialise it with the superuser `postgres` and the password
# from POSTGRES_PASSWORD (TCP clients must use it; local socket clients in the pod are trusted),
# create POSTGRES_DB, then run the server in the foreground as PID 1. Arguments go to postgres.
set -eu
: "${PGDATA:?PGDATA must be set}"
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
database=${POSTGRES_DB:-postgres}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  pwfile=$(mktemp)
  trap 'rm -f "$pwfile"' EXIT
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username=postgres --pwfile="$pwfile" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA"
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$database" != postgres ]; then
    echo "CREATE DATABASE \"$database\"" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "postgres-entrypoint: initialised $PGDATA with database $database"
fi
exec postgres -D "$PGDATA" "$@"
