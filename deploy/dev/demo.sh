#!/usr/bin/env bash
# `just demo`: builds nasvyazi, makes demo keys once (.data/demo.env),
# creates a first admin token, then runs everything in one process.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
. .data/env
export NASVYAZI_DATABASE__URL="$NASVYAZI_DEMO_DATABASE_URL"
export NASVYAZI_NATS__URL="$NASVYAZI_DEMO_NATS_URL"
cargo build -p nasvyazi-cli
bin="$root/target/debug/nasvyazi"
if [ ! -f .data/demo.env ]; then
  "$bin" keygen | sed -n 's/^NASVYAZI_/export NASVYAZI_/p' > .data/demo.env
  echo "export NASVYAZI_EMAIL__OUTBOX_DIR=$root/.data/outbox" >> .data/demo.env
  chmod 600 .data/demo.env
fi
set -a; . .data/demo.env; set +a
"$bin" migrate >/dev/null
token=$("$bin" token create --role admin --name "demo-$(date +%Y%m%d-%H%M%S)")
cat <<MSG

  nasvyazi demo
  -------------
  Public site     http://127.0.0.1:8080/
  Regions (API)   http://127.0.0.1:8080/api/v1/regions
  OpenAPI         http://127.0.0.1:8080/api/openapi.json
  Ready?          curl http://127.0.0.1:8080/readyz
  Admin token     $token
                  curl -H "Authorization: Bearer $token" http://127.0.0.1:8080/api/v1/admin/whoami
  Metrics         http://127.0.0.1:8080/metrics  (scheduler :8081, notifier :8082)

  Stop with Ctrl-C.

MSG
exec "$bin" up
