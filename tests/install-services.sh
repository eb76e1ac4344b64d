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

# Dovecot for the IMAP tests: they run it themselves from a temp dir
# (tests/helpers/dovecot.py); here we only make sure the binary is there.
have_dovecot() { command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; }
if ! have_dovecot && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing dovecot-imapd"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd; } >/dev/null 2>&1 \
    || say "apt-get could not install dovecot-imapd"
fi
have_dovecot && say "Dovecot: $( (command -v dovecot || echo /usr/sbin/dovecot) | head -1) $(/usr/sbin/dovecot --version 2>/dev/null | cut -d' ' -f1)" \
  || say "Dovecot: NOT available (IMAP tests skip, or fail with CI=true)"

# Chromium for the browser tests (Playwright drives Debian's build; it never
# downloads its own browsers).
have_chromium() { [ -x /usr/bin/chromium ]; }
if ! have_chromium && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing chromium"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
    || say "apt-get could not install chromium"
fi
have_chromium && say "Chromium: /usr/bin/chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}')" \
  || say "Chromium: NOT available (browser tests skip, or fail with CI=true)"
# Postfix for the MTA tests: they run a private instance from a temp dir on
# loopback ports (tests/helpers/postfix.py); the package is installed with
# "No configuration" and its system instance is never started here.
have_postfix() { [ -x /usr/sbin/postfix ]; }
if ! have_postfix && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing postfix (no configuration)"
  { echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections \
      && apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix; } >/dev/null 2>&1 \
    || say "apt-get could not install postfix"
fi
have_postfix && say "Postfix: /usr/sbin/postfix $(dpkg-query -W -f='${Version}' postfix 2>/dev/null)" \
  || say "Postfix: NOT available (MTA tests skip, or fail with CI=true)"
exit 0
