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

  Media and channels: a picture to the demo channel and to the bot's subscribers
    (or in the console: http://127.0.0.1:8083/admin/media and /admin/channels)
    a picture (any JPEG/PNG/WebP up to 10 MB; GIF/MP4/PDF up to 50 MB):
      echo iVBORw0KGgoAAAANSUhEUgAAAAgAAAAICAIAAABLbSncAAAAbUlEQVR4nBXOUREAUQhCUaMYhShEMcqNQhSi7Fs/OQzjzLCDBg83MGToMLPsosXLLSxZug/ECgmLE4iI6oFZI2NzBhNTPzj20OHjDo4cvQf/7Bt41Rf+F+h7YsIGBYfLHyc0D8oWFZfrX05p+QDeqGABsIj8kAAAAABJRU5ErkJggg== | base64 -d > /tmp/picture.png
    upload it with alt texts (metadata is stripped; note the "id" as MEDIA_ID):
      curl -s -H "Authorization: Bearer $token" -F file=@/tmp/picture.png \\
        -F 'alt_ru=Плакат «Поддержка, а не наказание»' -F 'alt_en=A poster: Support. Don'"'"'t punish' \\
        http://127.0.0.1:8083/api/v1/admin/media
    register the demo channel (note the "id" as CHANNEL_ID) and check the bot may post and pin:
      curl -s -H "Authorization: Bearer $token" -H 'content-type: application/json' \\
        -d '{"chat": "@nasvyazi_demo", "title": "News", "language": "ru"}' http://127.0.0.1:8083/api/v1/admin/channels
      curl -s -H "Authorization: Bearer $token" http://127.0.0.1:8083/api/v1/admin/channels/CHANNEL_ID/check
    a campaign with the picture, to the channel and to subscribers (person 1001 above), in two minutes:
      curl -s -H "Authorization: Bearer $token" -H 'content-type: application/json' -d '{"name": "Photo of the day",
        "schedule": {"kind": "once", "at": ["'"\$(TZ=Asia/Almaty date -d '+2 min' +%Y-%m-%dT%H:%M:%S)"'"]},
        "quiet_hours": {"start": "00:00", "end": "00:00"},
        "audience": {"channels": ["telegram", "telegram_channel:CHANNEL_ID"]},
        "templates": {"ru": {"telegram": "<b>26 июня</b>: поддержка, а не наказание", "telegram_media": ["MEDIA_ID"]}}}' \\
        http://127.0.0.1:8083/api/v1/admin/campaigns
      curl -s -X POST -H "Authorization: Bearer $token" http://127.0.0.1:8083/api/v1/admin/campaigns/CAMPAIGN_ID/approve
    the post in the channel, and the photo in person 1001's chat:
      curl -s '$tg/control/sent?chat_id=$channel_chat'
      curl -s '$tg/control/sent?chat_id=1001'
    after sending: the post, its t.me link; edit its caption, pin it, delete it (or on the campaign's console page):
      curl -s -H "Authorization: Bearer $token" http://127.0.0.1:8083/api/v1/admin/campaigns/CAMPAIGN_ID/posts
      curl -s -X PUT -H "Authorization: Bearer $token" -H 'content-type: application/json' \\
        -d '{"text": "<b>26 июня</b>: приходите на акцию"}' http://127.0.0.1:8083/api/v1/admin/campaigns/CAMPAIGN_ID/posts/POST_ID
      curl -s -X POST -H "Authorization: Bearer $token" http://127.0.0.1:8083/api/v1/admin/campaigns/CAMPAIGN_ID/posts/POST_ID/pin
      curl -s '$tg/control/pinned?token=$tg_token&chat_id=$channel_chat'
      curl -s -X DELETE -H "Authorization: Bearer $token" http://127.0.0.1:8083/api/v1/admin/campaigns/CAMPAIGN_ID/posts/POST_ID

  Surveys: "Access to OST in hospitals", the built-in example (ru / kk / en)
    create it (or in the console: Surveys -> New survey -> Create this survey):
      curl -s -X POST -H "Authorization: Bearer $token" http://127.0.0.1:8083/api/v1/admin/surveys/examples/ost-access
    open it (ID is the "id" printed above; the console's list has an Open button):
      curl -s -X POST -H "Authorization: Bearer $token" http://127.0.0.1:8083/api/v1/admin/surveys/ID/open
    answer on the web (no JavaScript, fits a phone): http://127.0.0.1:8080/surveys/ost-access?lang=kk
    answer in the bot (a person, id 3003, follows the survey's link):
      curl -s -X POST $tg/control/updates -H 'content-type: application/json' \\
        -d '{"kind": "message", "token": "$tg_token", "from": 3003, "text": "/start survey_ost-access"}'
      the questions it got: curl -s '$tg/control/sent?chat_id=3003'
    the results with charts (and ?by=q4 for regions, a printable A4 page, CSV):
      http://127.0.0.1:8083/admin/surveys/ID/results
      http://127.0.0.1:8083/admin/surveys/ID/print
      curl -s -H "Authorization: Bearer $token" http://127.0.0.1:8083/api/v1/admin/surveys/ID/results
    invite a campaign's audience (each gets their own one-time link, {{ survey_url }}):
      curl -s -X PUT -H "Authorization: Bearer $token" -H 'content-type: application/json' \\
        -d '{"survey": "ost-access", "reminder": false}' http://127.0.0.1:8083/api/v1/admin/campaigns/CAMPAIGN_ID/survey

  Stop with Ctrl-C.

MSG
"$bin" up
