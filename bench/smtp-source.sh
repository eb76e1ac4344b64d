#!/usr/bin/env bash
# Postfix's smtp-source (a C load generator) for the ingest benchmark's
# cross-check, unpacked from Debian's postfix package into bench/.tools/.
# The package is never installed: installing it would start a mail server
# on port 25.  Without apt (or offline) the cross-check is skipped.
set -euo pipefail
dest="$(cd "$(dirname "$0")" && pwd)/.tools/postfix"
if [ -x "$dest/usr/sbin/smtp-source" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
    echo "bench: no apt-get/dpkg; the smtp-source cross-check will be skipped" >&2
    exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
chmod 777 "$tmp"  # apt's download user writes there
if ! (cd "$tmp" && apt-get download postfix >/dev/null 2>&1); then
    echo "bench: could not download Debian's postfix package; the smtp-source cross-check will be skipped" >&2
    exit 0
fi
mkdir -p "$dest"
dpkg -x "$tmp"/postfix_*.deb "$dest"
echo "bench: smtp-source unpacked in $dest"
