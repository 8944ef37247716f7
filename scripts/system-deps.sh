#!/usr/bin/env bash
# Install the Debian packages invoice-inbox and its tests need, only those that are missing.
# usage: scripts/system-deps.sh run|test      (run: the service; test: also Dovecot, Chromium,
#                                              PostgreSQL, Postfix, swaks)
set -euo pipefail
want=(openssl ca-certificates make)
# WeasyPrint (mail bodies rendered to PDF) draws text with Pango and embeds DejaVu fonts.
want+=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core fontconfig)
# A Python that already has venv and pip (e.g. a pyenv build) needs no Debian python packages.
if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  want+=(python3 python3-venv python3-pip)
fi
if [ "${1:-run}" = test ]; then
  want+=(dovecot-imapd dovecot-pop3d)
  # The browser tests drive Debian's Chromium with Playwright (no browser download).
  want+=(chromium)
  # The tests initdb private PostgreSQL clusters (tests/harness/postgres.py); the package's own
  # "main" cluster is not wanted (see below: none is created, so none is started on 5432).
  want+=(postgresql)
  # A private Postfix relays swaks's mail to the import address (tests/harness/postfix.py); the
  # package's own system Postfix is not wanted (see below: "No configuration", so none starts).
  want+=(postfix swaks)
fi
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
apt-get update -qq
if [[ " ${missing[*]} " == *" postgresql "* ]] && [ ! -d /etc/postgresql ]; then
  # first postgresql-common, told not to create (and so not to start) a system cluster
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql-common
  sed -i 's/^#* *create_main_cluster *=.*/create_main_cluster = false/' \
    /etc/postgresql-common/createcluster.conf
fi
if [[ " ${missing[*]} " == *" postfix "* ]]; then
  if apt-get -s install --no-install-recommends postfix | grep -q '^Remv'; then
    # another MTA (exim4, ...) serves this machine: keep it; the Postfix relay tests skip
    echo "not installing postfix: it would replace this machine's mail server" >&2
    kept=()
    for pkg in "${missing[@]}"; do [ "$pkg" = postfix ] || kept+=("$pkg"); done
    missing=("${kept[@]}")
  elif [ ! -e /etc/postfix/main.cf ]; then
    # no main.cf is written, so neither systemd nor the init script starts a Postfix on port 25
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  fi
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
