//! Media for tests: real JPEGs and uploads to the library through the
//! admin API (`POST /api/v1/admin/media`, multipart).

use serde_json::Value;
use uuid::Uuid;

use crate::TestApp;

const BOUNDARY: &str = "nsv-test-media-boundary";

/// A real JPEG of `w` x `h` pixels of noise (so it does not compress
/// away), different per `seed`.
pub fn noise_jpeg(w: u16, h: u16, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    let pixels: Vec<u8> = (0..w as usize * h as usize * 3)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xFF) as u8
        })
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("encode");
    out
}

/// Uploads `file` as `name` with text `fields` (`alt_ru`, ...); asserts
/// 201 and returns the media id.
pub async fn upload_media(
    app: &TestApp,
    token: &str,
    file: &[u8],
    name: &str,
    fields: &[(&str, &str)],
) -> Uuid {
    let mut body = Vec::new();
    for (field, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
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
    assert_eq!(r.status(), 201, "upload {name}");
    let v: Value = r.json().await.expect("media JSON");
    v["id"].as_str().expect("id").parse().expect("uuid")
}
