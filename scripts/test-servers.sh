#!/usr/bin/env bash
# Unpack Debian 12's Cyrus IMAP and Courier IMAP/POP3 into a cache folder for the contract tests
# (tests/harness/cyrus.py, courier.py), WITHOUT installing them: `apt-get install cyrus-imapd` or
# `courier-imap` conflicts with dovecot-imapd/dovecot-pop3d (all provide imap-server/pop3-server)
# and would remove Dovecot. The packages are fetched with `apt-get download` and unpacked with
# `dpkg -x`; only the shared libraries their binaries link against are installed.
# usage: scripts/test-servers.sh [DEST]   (default $INVOICE_INBOX_TEST_SERVERS or
#        /var/cache/invoice-inbox/test-servers; quick and silent when everything is there)
set -euo pipefail
DEST=${1:-${INVOICE_INBOX_TEST_SERVERS:-/var/cache/invoice-inbox/test-servers}}
cyrus=(cyrus-common cyrus-imapd cyrus-pop3d sasl2-bin)
courier=(courier-base courier-imap courier-pop courier-authlib courier-authdaemon
  courier-authlib-userdb libcourier-unicode4)
# what the unpacked binaries link against (Courier's imapd links libfam, which libgamin0 gives)
libs=(libpcre3 libxapian30 libical3 libidn12 libltdl7 libgamin0 libsasl2-modules-db)
stamp="$DEST/.unpacked-v1"

missing=()
for pkg in "${libs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ -f "$stamp" ] && [ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Cyrus/Courier test servers are not set up in $DEST; run scripts/test-servers.sh as root" >&2
  exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing libraries for the Cyrus/Courier test servers: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
         apt-get install -y -q --no-install-recommends "${missing[@]}"; }
fi
if [ ! -f "$stamp" ]; then
  echo "unpacking Cyrus IMAP and Courier-IMAP/POP into $DEST (not installed: Dovecot stays)"
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/test-servers.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp"  # apt's download user (_apt) writes here
  (cd "$tmp" && apt-get download -q "${cyrus[@]}" "${courier[@]}" >/dev/null 2>&1) \
    || (apt-get update -qq && cd "$tmp" && apt-get download -q "${cyrus[@]}" "${courier[@]}" >/dev/null)
  mkdir -p "$tmp/cyrus-root" "$tmp/courier-root"
  for d in "${cyrus[@]}"; do dpkg -x "$tmp/${d}"_*.deb "$tmp/cyrus-root"; done
  for d in "${courier[@]}"; do dpkg -x "$tmp/${d}"_*.deb "$tmp/courier-root"; done
  mkdir -p "$DEST"
  rm -rf "$DEST/cyrus-root" "$DEST/courier-root"
  mv "$tmp/cyrus-root" "$tmp/courier-root" "$DEST/"
  chmod 755 "$DEST"
  touch "$stamp"
fi
