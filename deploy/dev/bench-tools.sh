#!/usr/bin/env bash
# Installs what `just bench` compares against: Postfix's smtp-sink and
# smtp-source (Debian package postfix, without configuring a mail system).
set -euo pipefail
if command -v smtp-sink >/dev/null && command -v smtp-source >/dev/null; then exit 0; fi
for d in /usr/sbin /usr/lib/postfix/sbin; do
  [ -x "$d/smtp-sink" ] && [ -x "$d/smtp-source" ] && exit 0
done
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
echo "postfix postfix/main_mailer_type select No configuration" | as_root debconf-set-selections
as_root apt-get update -qq
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix >/dev/null
