#!/usr/bin/env bash
# Make the services the tests talk to available, where this machine lets us.
# With CI=true a service that cannot be had makes the tests that need it fail
# (they check for themselves); this script only tries and reports.
set -u
say() { printf 'test-deps: %s\n' "$*"; }

pg_ready() { command -v pg_isready >/dev/null && pg_isready -h 127.0.0.1 -p 5432 -q; }
if ! pg_ready; then
  if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
    say "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >/dev/null 2>&1 || true
    for _ in $(seq 1 20); do pg_ready && break; sleep 0.5; done
  fi
fi
pg_ready && say "PostgreSQL on 127.0.0.1:5432: ready" || say "PostgreSQL on 127.0.0.1:5432: NOT available"
exit 0
