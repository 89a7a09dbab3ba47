//! The media library and the channels registry (issue 16, first part):
//! uploads judged by content, metadata stripped, stored once, limits and
//! quota, roles; channels registered and the bot's rights checked against
//! the Telegram fake.

use nasvyazi_shared::auth::Role;
use nasvyazi_telegram_fake::{
    BotMembership, BotStatus, ChatKind, FakeConfig, NewChat, TelegramFake,
};
use nasvyazi_tests::media::{minimal_pdf, noise_jpeg};
use nasvyazi_tests::{TestApp, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const BOUNDARY: &str = "MediaTestBoundary7f3e2d1c";
/// A device serial that must never come back.
const SERIAL: &[u8] = b"NSV-SERIAL-CANARY-7731";

fn jpeg(w: u16, h: u16, seed: u32) -> Vec<u8> {
    noise_jpeg(w, h, seed)
}

/// TIFF (Exif) data, big-endian: Make = the serial, GPS latitude and
/// longitude (43°15'30" N, 76°53'45" E), and an orientation if asked.
fn exif_with_gps(orientation: Option<u16>) -> Vec<u8> {
    let mut make = SERIAL.to_vec();
    make.push(0);
    let n0: u16 = if orientation.is_some() { 3 } else { 2 };
    let ifd0_len = 2 + 12 * n0 as u32 + 4;
    let make_at = 8 + ifd0_len;
    let gps_at = make_at + make.len() as u32 + (make.len() as u32 % 2);
    let gps_len = 2 + 12 * 4 + 4;
    let lat_at = gps_at + gps_len;
    let lon_at = lat_at + 24;
    let mut t = b"MM\0*".to_vec();
    t.extend_from_slice(&8u32.to_be_bytes());
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: [u8; 4]| {
        t.extend_from_slice(&tag.to_be_bytes());
        t.extend_from_slice(&kind.to_be_bytes());
        t.extend_from_slice(&count.to_be_bytes());
        t.extend_from_slice(&value);
    };
    t.extend_from_slice(&n0.to_be_bytes());
    entry(&mut t, 0x010F, 2, make.len() as u32, make_at.to_be_bytes());
    if let Some(o) = orientation {
        let [a, b] = o.to_be_bytes();
        entry(&mut t, 0x0112, 3, 1, [a, b, 0, 0]);
    }
    entry(&mut t, 0x8825, 4, 1, gps_at.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&make);
    if make.len() % 2 == 1 {
        t.push(0);
    }
    t.extend_from_slice(&4u16.to_be_bytes());
    entry(&mut t, 0x0001, 2, 2, *b"N\0\0\0");
    entry(&mut t, 0x0002, 5, 3, lat_at.to_be_bytes());
    entry(&mut t, 0x0003, 2, 2, *b"E\0\0\0");
    entry(&mut t, 0x0004, 5, 3, lon_at.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    for (num, den) in [(43u32, 1u32), (15, 1), (30, 1), (76, 1), (53, 1), (45, 1)] {
        t.extend_from_slice(&num.to_be_bytes());
        t.extend_from_slice(&den.to_be_bytes());
    }
    t
}

/// `clean` with an APP1 Exif segment (GPS, serial), an XMP packet naming
/// the place and a comment inserted after SOI, as a phone writes them.
fn with_metadata(clean: &[u8], orientation: Option<u16>) -> Vec<u8> {
    let segment = |marker: u8, body: &[u8]| {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(body);
        s
    };
    let exif = [b"Exif\0\0".as_slice(), &exif_with_gps(orientation)].concat();
    let xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><exif:GPSLatitude>43,15.5N</exif:GPSLatitude></x:xmpmeta>";
    let mut out = clean[..2].to_vec();
    out.extend(segment(0xE1, &exif));
    out.extend(segment(0xE1, xmp));
    out.extend(segment(0xFE, b"Almaty, Abay ave 10"));
    out.extend_from_slice(&clean[2..]);
    out
}

/// A 1x1 GIF of about `size` bytes (image data in 255-byte sub-blocks)
/// with a comment naming a place and the looping extension.
fn gif(size: usize) -> Vec<u8> {
    let mut g = b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xFF\xFF\xFF".to_vec();
    g.extend_from_slice(b"\x21\xFE\x0CAlmaty, Abay\0");
    g.extend_from_slice(b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\0\0\0");
    g.extend_from_slice(b"\x2C\0\0\0\0\x01\0\x01\0\0\x02");
    while g.len() + 256 < size {
        g.push(255);
        g.extend_from_slice(&[0x44; 255]);
    }
    g.extend_from_slice(b"\0\x3B");
    g
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(b))
}

/// A multipart body: `file` (with the given file name and declared type)
/// and text fields.
fn form(file: &[u8], filename: &str, declared: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {declared}\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(app: &TestApp, token: &str, body: Vec<u8>) -> (u16, Value) {
    let r = app
        .http
        .post(app.url("/api/v1/admin/media"))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .expect("POST media");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn upload_file(app: &TestApp, token: &str, file: &[u8], name: &str) -> (u16, Value) {
    upload(
        app,
        token,
        form(file, name, "application/octet-stream", &[]),
    )
    .await
}

async fn media_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM media")
        .fetch_one(&app.infra.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_photo_comes_back_without_its_exif_and_is_stored_once() {
    let app = spawn_app().await;
    let token = app.token(Role::Organiser).await;
    let clean = jpeg(32, 24, 7);
    let tagged = with_metadata(&clean, None);
    assert!(contains(&tagged, SERIAL) && contains(&tagged, b"GPSLatitude"));

    let (status, created) = upload(
        &app,
        &token,
        form(
            &tagged,
            "IMG_0042.jpg",
            "image/jpeg",
            &[
                ("alt_ru", "Шприцы и налоксон"),
                ("alt_en", "Syringes and naloxone"),
            ],
        ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["kind"], "image");
    assert_eq!(created["mime"], "image/jpeg");
    assert_eq!(created["bytes"], json!(clean.len()));
    assert_eq!(created["sha256"], json!(sha256_hex(&clean)));
    assert_eq!(created["alt_ru"], "Шприцы и налоксон");
    assert_eq!(created["alt_kk"], "");
    let id = created["id"].as_str().unwrap().to_string();

    // The bytes come back: the encoder's JPEG exactly, Exif, XMP and the
    // comment gone, sandboxed and typed.
    let r = app
        .http
        .get(app.url(&format!("/api/v1/admin/media/{id}/file")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.headers()["content-security-policy"], "sandbox");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let back = r.bytes().await.unwrap();
    assert!(!contains(&back, b"Exif\0\0"));
    assert!(!contains(&back, SERIAL));
    assert!(!contains(&back, b"GPSLatitude"));
    assert!(!contains(&back, b"Abay"));
    assert_eq!(back.as_ref(), clean.as_slice());

    // The same upload again, and the clean file (the same stored bytes):
    // the existing entry, 200, nothing stored twice.
    for file in [&tagged, &clean] {
        let (status, again) = upload_file(&app, &token, file, "copy.jpg").await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["id"], json!(id));
    }
    assert_eq!(media_count(&app).await, 1);
    let list: Value = app
        .http
        .get(app.url("/api/v1/admin/media"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["id"], json!(id));

    // A photo taken sideways keeps its orientation, and only that.
    let rotated = with_metadata(&jpeg(24, 32, 8), Some(6));
    let (status, created) = upload_file(&app, &token, &rotated, "IMG_0043.jpg").await;
    assert_eq!(status, 201, "{created}");
    let back = app
        .http
        .get(app.url(&format!(
            "/api/v1/admin/media/{}/file",
            created["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(!contains(&back, SERIAL) && !contains(&back, b"GPSLatitude"));
    // Exif with one IFD entry: 0x0112, SHORT, 1, value 6.
    assert!(contains(
        &back,
        b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0"
    ));
    assert_eq!(created["bytes"], json!(back.len()));
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'media.upload'")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(audited, 2);
    app.stop().await;
}

#[tokio::test]
async fn files_are_judged_by_content_size_and_quota() {
    // The general body limit is below the upload's: the media route has
    // its own.
    let app = spawn_app_with(
        "[media]\nphoto_max_bytes = 4096\nfile_max_bytes = 65536\nquota_bytes = 15000\n\
         [http]\nbody_limit_bytes = 4096\n",
    )
    .await;
    let token = app.token(Role::Admin).await;

    // Text named photo.jpg and declared image/jpeg: refused by content.
    let (status, e) = upload(
        &app,
        &token,
        form(
            b"just some text, not a photo\n",
            "photo.jpg",
            "image/jpeg",
            &[],
        ),
    )
    .await;
    assert_eq!(status, 415, "{e}");
    assert_eq!(e["error"]["code"], "unsupported_media_type");
    // An SVG (script-capable) and a JPEG signature on garbage: refused too.
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>";
    assert_eq!(upload_file(&app, &token, svg, "a.png").await.0, 415);
    let fake_jpeg = b"\xFF\xD8\xFF\xE1\xFF\xFFnot really a jpeg";
    assert_eq!(upload_file(&app, &token, fake_jpeg, "b.jpg").await.0, 415);
    // No file at all.
    let (status, _) = upload(&app, &token, format!("--{BOUNDARY}--\r\n").into_bytes()).await;
    assert_eq!(status, 422);

    // A photo over the photo limit: 413, whatever its name.
    let big_photo = jpeg(64, 64, 3);
    assert!(
        big_photo.len() > 4096 && big_photo.len() <= 65536,
        "{}",
        big_photo.len()
    );
    let (status, e) = upload_file(&app, &token, &big_photo, "small.gif").await;
    assert_eq!(status, 413, "{e}");
    assert_eq!(e["error"]["code"], "payload_too_large");
    // The same size as a GIF is within the other files' limit; its
    // comment (16 bytes) is not stored.
    let gif = gif(5000);
    let (status, created) = upload_file(&app, &token, &gif, "a.gif").await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["kind"], "animation");
    assert_eq!(created["mime"], "image/gif");
    assert_eq!(created["bytes"], json!(gif.len() - 16));
    let back = app
        .http
        .get(app.url(&format!(
            "/api/v1/admin/media/{}/file",
            created["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(!contains(&back, b"Almaty") && contains(&back, b"NETSCAPE2.0"));
    // Over the file limit: 413 (before the content is looked at).
    let over = [b"%PDF-1.7\n".as_slice(), &[b'a'; 70_000]].concat();
    assert_eq!(upload_file(&app, &token, &over, "x.pdf").await.0, 413);

    // The quota: the GIF and one 7 KB document fit in 15000, another does
    // not. (Documents are written anew: their stored size is as answered.)
    let pdf = |fill: char| minimal_pdf(&fill.to_string().repeat(7000));
    let (status, first) = upload_file(&app, &token, &pdf('b'), "1.pdf").await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["kind"], "document");
    let first_bytes = first["bytes"].as_u64().unwrap() as usize;
    assert!(first_bytes > 7000, "{first}");
    let (status, e) = upload_file(&app, &token, &pdf('c'), "2.pdf").await;
    assert_eq!(status, 413, "{e}");
    assert_eq!(e["error"]["code"], "quota_exceeded");
    let usage: Value = app
        .http
        .get(app.url("/api/v1/admin/media/usage"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        usage,
        json!({"files": 2, "used_bytes": gif.len() - 16 + first_bytes, "quota_bytes": 15000})
    );
    // Deleting frees the room.
    let r = app
        .http
        .delete(app.url(&format!(
            "/api/v1/admin/media/{}",
            first["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, e) = upload_file(&app, &token, &pdf('c'), "2.pdf").await;
    assert_eq!(status, 201, "{e}");
    assert_eq!(media_count(&app).await, 2);
    let r = app
        .http
        .get(app.url(&format!(
            "/api/v1/admin/media/{}/file",
            first["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn only_organisers_and_admins_use_the_library_on_the_staff_listener() {
    let app = spawn_app().await;
    let organiser = app.token(Role::Organiser).await;
    let (status, created) = upload_file(&app, &organiser, &jpeg(8, 8, 1), "a.jpg").await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let file = format!("/api/v1/admin/media/{id}/file");
    let one = format!("/api/v1/admin/media/{id}");

    for role in [Role::Caseworker, Role::Consultant] {
        let token = app.token(role).await;
        assert_eq!(
            upload_file(&app, &token, &jpeg(8, 8, 2), "b.jpg").await.0,
            403
        );
        for path in ["/api/v1/admin/media", &file, &one, "/api/v1/admin/channels"] {
            let r = app
                .http
                .get(app.url(path))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 403, "{role:?} GET {path}");
        }
        let r = app
            .http
            .delete(app.url(&one))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = app
            .http
            .post(app.url("/api/v1/admin/channels"))
            .bearer_auth(&token)
            .json(&json!({"chat": "@forum_news", "title": "News", "language": "ru"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
    }
    let r = app.http.get(app.url(&file)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Not on the public listener at all.
    let r = app
        .http
        .get(app.public_url(&file))
        .bearer_auth(&organiser)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // An admin may too; without a bot a channel cannot be checked.
    let admin = app.token(Role::Admin).await;
    let channel: Value = app
        .http
        .post(app.url("/api/v1/admin/channels"))
        .bearer_auth(&admin)
        .json(&json!({"chat": "@forum_news", "title": "News", "language": "en"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = app
        .http
        .get(app.url(&format!(
            "/api/v1/admin/channels/{}/check",
            channel["id"].as_str().unwrap()
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let r = app
        .http
        .get(app.url(&file))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .http
        .delete(app.url(&one))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(media_count(&app).await, 0);
    app.stop().await;
}

const TOKEN: &str = "5550002:MEDIA-token_for_nasvyazi";
const NEWS: i64 = -1_001_555_000_001;
const VOLUNTEERS: i64 = -1_001_555_000_002;

#[tokio::test]
async fn channels_are_registered_and_the_bots_rights_checked() {
    let fake = TelegramFake::start(FakeConfig {
        tokens: vec![TOKEN.into()],
        rate_limits: false,
    })
    .await
    .expect("the fake starts");
    for (id, username) in [(NEWS, "forum_news_kz"), (VOLUNTEERS, "forum_volunteers")] {
        fake.add_chat(NewChat {
            id,
            kind: ChatKind::Channel,
            title: Some("Канал".into()),
            username: Some(username.into()),
        })
        .unwrap();
    }
    // In the volunteers' channel the bot is a plain member.
    fake.set_bot_membership(BotMembership {
        chat_id: VOLUNTEERS,
        status: BotStatus::Member,
        ..BotMembership::default()
    })
    .unwrap();
    let app = spawn_app_with(&format!(
        "[telegram]\napi_base = \"{}\"\ntoken = \"{TOKEN}\"\n",
        fake.base_url()
    ))
    .await;
    let token = app.token(Role::Organiser).await;
    let register = |body: Value| {
        app.http
            .post(app.url("/api/v1/admin/channels"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = register(json!({"chat": "@forum_news_kz", "title": "Новости", "language": "ru"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let news: Value = r.json().await.unwrap();
    assert_eq!(news["chat"], "@forum_news_kz");
    let r = register(json!({"chat": VOLUNTEERS, "title": "Еріктілер", "language": "kk"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let volunteers: Value = r.json().await.unwrap();
    assert_eq!(volunteers["chat"], json!(VOLUNTEERS.to_string()));

    // The same channel again (names are case-insensitive), a private chat,
    // a bad language: refused.
    let r = register(json!({"chat": "@Forum_News_KZ", "title": "x", "language": "ru"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    for bad in [
        json!({"chat": 5_000_000_001_i64, "title": "x", "language": "ru"}),
        json!({"chat": "@forum_x", "title": "x", "language": "de"}),
        json!({"chat": "@forum_x", "title": "  ", "language": "en"}),
    ] {
        assert_eq!(register(bad.clone()).await.unwrap().status(), 422, "{bad}");
    }
    let list: Value = app
        .http
        .get(app.url("/api/v1/admin/channels"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");

    let check = |id: &Value| {
        app.http
            .get(app.url(&format!(
                "/api/v1/admin/channels/{}/check",
                id.as_str().unwrap()
            )))
            .bearer_auth(&token)
            .send()
    };
    let r = check(&news["id"]).await.unwrap();
    assert_eq!(r.status(), 200);
    let rights: Value = r.json().await.unwrap();
    assert_eq!(rights["status"], "administrator", "{rights}");
    assert_eq!(rights["chat_type"], "channel");
    assert_eq!(
        (&rights["can_post"], &rights["can_pin"], &rights["can_edit"]),
        (&json!(true), &json!(true), &json!(true))
    );
    let rights: Value = check(&volunteers["id"])
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rights["status"], "member", "{rights}");
    assert_eq!(
        (&rights["can_post"], &rights["can_pin"], &rights["can_edit"]),
        (&json!(false), &json!(false), &json!(false))
    );
    // An administrator who may post but not edit others' posts: may not pin.
    fake.set_bot_membership(BotMembership {
        chat_id: NEWS,
        status: BotStatus::Administrator,
        can_post_messages: true,
        ..BotMembership::default()
    })
    .unwrap();
    let rights: Value = check(&news["id"]).await.unwrap().json().await.unwrap();
    assert_eq!(
        (&rights["can_post"], &rights["can_pin"]),
        (&json!(true), &json!(false))
    );

    // A chat Telegram does not know: unreachable, in Telegram's words.
    let r = register(json!({"chat": -1_001_555_999_999_i64, "title": "Старый", "language": "en"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let gone: Value = r.json().await.unwrap();
    let rights: Value = check(&gone["id"]).await.unwrap().json().await.unwrap();
    assert_eq!(rights["status"], "unreachable", "{rights}");
    assert_eq!(rights["reason"], "Bad Request: chat not found");
    assert_eq!(rights["can_post"], json!(false));

    // Removed: gone from the list, its check 404.
    let r = app
        .http
        .delete(app.url(&format!(
            "/api/v1/admin/channels/{}",
            volunteers["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(check(&volunteers["id"]).await.unwrap().status(), 404);
    let (action, target): (String, Option<String>) =
        sqlx::query_as("SELECT action, target FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert_eq!(action, "channel.delete");
    assert_eq!(target.as_deref(), volunteers["id"].as_str());
    app.stop().await;
}
