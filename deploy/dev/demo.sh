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

# Telegram: the local Bot API fake beside the system (no account needed).
tg="http://127.0.0.1:8090"
tg_token="123456:DEMO-nasvyazi"
staff_chat=-1001000000001
channel_chat=-1001000000002
consult_group=-1001000000003
export NASVYAZI_TELEGRAM__API_BASE="$tg"
export NASVYAZI_TELEGRAM__TOKEN="$tg_token"
export NASVYAZI_TELEGRAM__STAFF_CHAT="$staff_chat"
export NASVYAZI_TELEGRAM__CHANNEL="@nasvyazi_demo"
# Appeals: staff alerts land in the outbox folder (and the staff chat).
export NASVYAZI_APPEALS__STAFF_EMAIL="staff@nasvyazi.local"
# Consultations: alerts by email (outbox folder) and in the staff chat; a
# forum group where each conversation has its own topic.
export NASVYAZI_CONSULTATIONS__STAFF_EMAIL="staff@nasvyazi.local"
export NASVYAZI_CONSULTATIONS__STAFF_GROUP="$consult_group"
"$bin" telegram-fake --listen 127.0.0.1:8090 --token "$tg_token" >/dev/null &
fake_pid=$!
trap 'kill "$fake_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -sf "$tg/bot$tg_token/getMe" >/dev/null && break
  sleep 0.1
done
# The staff group and the public channel, so alerts and posts can land.
curl -sf -X POST "$tg/control/chats" -H 'content-type: application/json' \
  -d "{\"id\": $staff_chat, \"type\": \"supergroup\", \"title\": \"Staff\"}" >/dev/null
curl -sf -X POST "$tg/control/chats" -H 'content-type: application/json' \
  -d "{\"id\": $channel_chat, \"type\": \"channel\", \"title\": \"News\", \"username\": \"nasvyazi_demo\"}" >/dev/null
curl -sf -X POST "$tg/control/forums" -H 'content-type: application/json' \
  -d "{\"id\": $consult_group, \"title\": \"Consultants\", \"bot_rights\": {\"can_manage_topics\": true, \"can_pin_messages\": true}}" >/dev/null
token=$("$bin" token create --role admin --name "demo-$(date +%Y%m%d-%H%M%S)")
# The console's first admin (a fresh one each run; the password is shown once).
admin_email="admin-$(date +%Y%m%d-%H%M%S)@nasvyazi.local"
admin_password=$("$bin" user create --role admin --name "Demo admin" --email "$admin_email")
cat <<MSG

  nasvyazi demo
  -------------
  Public site     http://127.0.0.1:8080/  (the public listener: no /admin, no admin API, no /metrics)
  Console         http://127.0.0.1:8083/admin  (its own listener, console.listen; works on a phone)
    sign in as    $admin_email
    password      $admin_password
                  (or "send me a link": the email lands in .data/outbox/)
  Regions (API)   http://127.0.0.1:8080/api/v1/regions
  OpenAPI         http://127.0.0.1:8083/api/openapi.json
  Ready?          curl http://127.0.0.1:8080/readyz
  Admin token     $token
                  curl -H "Authorization: Bearer $token" http://127.0.0.1:8083/api/v1/admin/whoami
  Metrics         http://127.0.0.1:8083/metrics  (scheduler :8081, notifier :8082)
  Appeals         http://127.0.0.1:8080/appeal  (staff alert: .data/outbox/, and the staff chat below)
                  curl -H "Authorization: Bearer $token" http://127.0.0.1:8083/api/v1/admin/appeals
  Letters         $bin officials import FILE.csv, then a letter (README: "Letters to officials");
                  signing page /letters/{slug}; letters land in .data/outbox/ in office hours

  Telegram        a local Bot API fake on $tg (bot token $tg_token)
    a person (id 1001) sends /start to the bot:
      curl -s -X POST $tg/control/updates -H 'content-type: application/json' \\
        -d '{"kind": "message", "token": "$tg_token", "from": 1001, "text": "/start"}'
    what the chat received (the language buttons; the bot's message is message_id 2):
      curl -s '$tg/control/sent?chat_id=1001'
    press a button ("lang:ru", then "topic:ost", then "done"):
      curl -s -X POST $tg/control/updates -H 'content-type: application/json' \\
        -d '{"kind": "callback_query", "token": "$tg_token", "from": 1001, "chat_id": 1001, "message_id": 2, "data": "lang:ru"}'
    staff alerts and channel posts:
      curl -s '$tg/control/sent?chat_id=$staff_chat'
      curl -s '$tg/control/sent?chat_id=$channel_chat'

  Consultations («На связи»): a person (id 2002) writes to the bot for help:
      curl -s -X POST $tg/control/updates -H 'content-type: application/json' \\
        -d '{"kind": "message", "token": "$tg_token", "from": 2002, "text": "Здравствуйте, мне нужна помощь, друг передозировал"}'
    the automatic answer (hours, emergency lines): curl -s '$tg/control/sent?chat_id=2002'
    the inbox: http://127.0.0.1:8083/admin/conversations  (reply there; it reaches chat 2002)
      or: curl -H "Authorization: Bearer $token" http://127.0.0.1:8083/api/v1/admin/conversations
    the staff group's topics: curl -s '$tg/control/sent_records?chat_id=$consult_group'
    without Telegram: http://127.0.0.1:8080/talk

  Stop with Ctrl-C.

MSG
"$bin" up
