//! Issue 24, item 11: metadata must not survive the media library. Each
//! attack file is built byte by byte with the places phones, cameras and
//! editors hide names, places, devices and dates (PNG eXIf, iTXt XMP,
//! tEXt; WebP EXIF, XMP, LIST/INFO; a JPEG's JFIF and JFXX thumbnails and
//! Exif between progressive scans; an MP4's times, udta and a text and a
//! metadata track; a PDF's /Info, XMP, earlier revision, annotation
//! author and an image's Exif), uploaded through the real HTTP API, read
//! back from it, and searched: none of it may come back, while the
//! picture still decodes to the same pixels. Files the walkers do not
//! understand are refused with a reason. Must never depend on exiftool or
//! any other tool outside the workspace (it was used by hand only).

use image::ImageEncoder;
use nasvyazi_shared::auth::Role;
use nasvyazi_tests::media::{noise_jpeg, pdf_file, upload_media};
use nasvyazi_tests::{TestApp, spawn_app};
use serde_json::Value;
use uuid::Uuid;

/// Every marker planted in an attack file contains this.
const CANARY: &[u8] = b"Canary";

/// 43°15'0" N and 76°55'0" E as Exif rationals (big-endian).
fn gps_bytes() -> [Vec<u8>; 2] {
    let rationals = |v: [u32; 3]| -> Vec<u8> {
        v.iter()
            .flat_map(|n| [n.to_be_bytes(), 1u32.to_be_bytes()].concat())
            .collect()
    };
    [rationals([43, 15, 0]), rationals([76, 55, 0])]
}

/// A TIFF entry: tag, type, count, value (big-endian).
type Entry = (u16, u16, u32, Vec<u8>);

fn ascii(tag: u16, s: &str) -> Entry {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    (tag, 2, v.len() as u32, v)
}

/// Exif (TIFF, big-endian) as a phone writes it: make, model and date in
/// IFD0, the body serial, owner and time taken in the Exif IFD, and the
/// place in the GPS IFD.
fn exif_tiff() -> Vec<u8> {
    let [lat, lon] = gps_bytes();
    let mut ifd0 = vec![
        ascii(0x010F, "CanaryMake"),
        ascii(0x0110, "CanaryModel X1"),
        ascii(0x0132, "2026:11:30 09:15:00"),
    ];
    let exif = vec![
        ascii(0x9003, "2026:11:30 09:15:00"),
        ascii(0xA430, "Canary Owner"),
        ascii(0xA431, "Canary-Serial-0042"),
    ];
    let gps = vec![
        (0x0000, 1, 4, vec![2, 3, 0, 0]),
        ascii(0x0001, "N"),
        (0x0002, 5, 3, lat),
        ascii(0x0003, "E"),
        (0x0004, 5, 3, lon),
    ];
    let size = |n: usize| 2 + 12 * n + 4;
    let exif_at = 8 + size(ifd0.len() + 2);
    let gps_at = exif_at + size(exif.len());
    let data_at = gps_at + size(gps.len());
    ifd0.push((0x8769, 4, 1, (exif_at as u32).to_be_bytes().to_vec()));
    ifd0.push((0x8825, 4, 1, (gps_at as u32).to_be_bytes().to_vec()));
    let mut head = b"MM\0*\0\0\0\x08".to_vec();
    let mut data = Vec::new();
    for ifd in [ifd0, exif, gps] {
        head.extend_from_slice(&(ifd.len() as u16).to_be_bytes());
        for (tag, kind, count, value) in ifd {
            head.extend_from_slice(&tag.to_be_bytes());
            head.extend_from_slice(&kind.to_be_bytes());
            head.extend_from_slice(&count.to_be_bytes());
            if value.len() <= 4 {
                let mut v = value.clone();
                v.resize(4, 0);
                head.extend_from_slice(&v);
            } else {
                head.extend_from_slice(&((data_at + data.len()) as u32).to_be_bytes());
                data.extend_from_slice(&value);
                if data.len() % 2 == 1 {
                    data.push(0);
                }
            }
        }
        head.extend_from_slice(&0u32.to_be_bytes());
    }
    assert_eq!(head.len(), data_at);
    [head, data].concat()
}

/// An XMP packet naming the creator, the place and the device.
fn xmp() -> Vec<u8> {
    b"<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\
      <x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\
      <rdf:Description xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:exif=\"http://ns.adobe.com/exif/1.0/\">\
      <dc:creator><rdf:Seq><rdf:li>Canary Creator</rdf:li></rdf:Seq></dc:creator>\
      <exif:GPSLatitude>43,15.0N</exif:GPSLatitude><exif:GPSLongitude>76,55.0E</exif:GPSLongitude>\
      </rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
        .to_vec()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Asserts that none of `needles` is in `back`.
fn none_of(back: &[u8], needles: &[&[u8]]) {
    for n in needles {
        assert!(
            !contains(back, n),
            "{:?} came back",
            String::from_utf8_lossy(n)
        );
    }
}

/// Pixels of noise, `channels` per pixel.
fn noise(w: u32, h: u32, channels: u32, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..w * h * channels)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xFF) as u8
        })
        .collect()
}

/// Uploads `file` (201 asserted), reads the stored bytes back from the
/// API; returns them with the entry.
async fn round_trip(app: &TestApp, token: &str, file: &[u8], name: &str) -> (Value, Vec<u8>) {
    let id: Uuid = upload_media(app, token, file, name, &[]).await;
    let entry: Value = app
        .http
        .get(app.url(&format!("/api/v1/admin/media/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET media")
        .json()
        .await
        .expect("media JSON");
    let r = app
        .http
        .get(app.url(&format!("/api/v1/admin/media/{id}/file")))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET file");
    assert_eq!(r.status(), 200);
    let back = r.bytes().await.expect("file").to_vec();
    assert_eq!(entry["bytes"].as_u64(), Some(back.len() as u64));
    (entry, back)
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut c = (data.len() as u32).to_be_bytes().to_vec();
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    c.extend_from_slice(&crc32(&[kind.as_slice(), data].concat()).to_be_bytes());
    c
}

#[tokio::test]
async fn a_png_comes_back_without_exif_xmp_and_text_chunks() {
    let app = spawn_app().await;
    let token = app.token(Role::Organiser).await;
    let (w, h) = (16, 12);
    let pixels = noise(w, h, 3, 11);
    let mut clean = Vec::new();
    image::codecs::png::PngEncoder::new(&mut clean)
        .write_image(&pixels, w, h, image::ExtendedColorType::Rgb8)
        .expect("encode PNG");
    // Signature (8) and IHDR (25), then the planted chunks, then the rest.
    let xmp_itxt = [b"XML:com.adobe.xmp\0\0\0\0\0".as_slice(), &xmp()].concat();
    let dirty = [
        clean[..33].to_vec(),
        png_chunk(b"iCCP", b"Canary office screen\0\0x-not-really-zlib"),
        png_chunk(b"eXIf", &exif_tiff()),
        png_chunk(b"iTXt", &xmp_itxt),
        png_chunk(b"tXMP", &xmp()),
        png_chunk(b"tEXt", b"Author\0Canary Author"),
        png_chunk(b"tIME", &[0x07, 0xEA, 11, 30, 9, 15, 0]),
        clean[33..].to_vec(),
        b"Canary trailer after IEND".to_vec(),
    ]
    .concat();
    assert!(contains(&dirty, b"CanaryModel"));

    let (entry, back) = round_trip(&app, &token, &dirty, "screenshot.png").await;
    assert_eq!(entry["mime"], "image/png");
    let [lat, lon] = gps_bytes();
    none_of(
        &back,
        &[
            CANARY, &lat, &lon, b"eXIf", b"iTXt", b"tXMP", b"tEXt", b"tIME", b"iCCP", b"xmpmeta",
        ],
    );
    // Nothing but the encoder's own chunks: the same bytes, the same pixels.
    assert_eq!(back, clean);
    let decoded = image::load_from_memory(&back).expect("decodes").to_rgb8();
    assert_eq!(decoded.into_raw(), pixels);
    app.stop().await;
}

fn riff_chunk(id: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut v = id.to_vec();
    v.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    v.extend_from_slice(payload);
    if payload.len() % 2 == 1 {
        v.push(0);
    }
    v
}

fn riff(body: &[u8]) -> Vec<u8> {
    let mut v = b"RIFF".to_vec();
    v.extend_from_slice(&((body.len() + 4) as u32).to_le_bytes());
    v.extend_from_slice(b"WEBP");
    v.extend_from_slice(body);
    v
}

#[tokio::test]
async fn a_webp_comes_back_without_exif_xmp_and_riff_info() {
    let app = spawn_app().await;
    let token = app.token(Role::Organiser).await;
    let (w, h) = (12u32, 10u32);
    let mut pixels = noise(w, h, 4, 12);
    pixels.chunks_mut(4).for_each(|p| p[3] = 255);
    let mut simple = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut simple)
        .write_image(&pixels, w, h, image::ExtendedColorType::Rgba8)
        .expect("encode WebP");
    assert_eq!(&simple[12..16], b"VP8L");
    let vp8l_len = u32::from_le_bytes(simple[16..20].try_into().unwrap()) as usize;
    let vp8l = simple[20..20 + vp8l_len].to_vec();
    // The extended form a phone or editor writes: VP8X with the ICC,
    // alpha, EXIF and XMP flags, then the chunks.
    let mut vp8x = vec![0x20 | 0x10 | 0x08 | 0x04, 0, 0, 0];
    vp8x.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
    let info = [
        b"INFO".to_vec(),
        riff_chunk(b"IART", b"Canary Artist\0"),
        riff_chunk(b"ICMT", b"Canary Comment: Almaty, Abay ave\0"),
        riff_chunk(b"ISFT", b"Canary Editor 3.1\0"),
    ]
    .concat();
    let dirty = riff(
        &[
            riff_chunk(b"VP8X", &vp8x),
            riff_chunk(b"ICCP", b"Canary office screen profile"),
            riff_chunk(b"VP8L", &vp8l),
            riff_chunk(b"EXIF", &exif_tiff()),
            riff_chunk(b"XMP ", &xmp()),
            riff_chunk(b"LIST", &info),
        ]
        .concat(),
    );

    let (entry, back) = round_trip(&app, &token, &dirty, "photo.webp").await;
    assert_eq!(entry["mime"], "image/webp");
    let [lat, lon] = gps_bytes();
    none_of(
        &back,
        &[
            CANARY, &lat, &lon, b"EXIF", b"XMP ", b"LIST", b"INFO", b"IART", b"ICMT", b"ICCP",
            b"xmpmeta",
        ],
    );
    // VP8X says so: alpha only; no ICC, EXIF or XMP flags.
    assert_eq!(&back[12..16], b"VP8X");
    assert_eq!(back[20], 0x10);
    let expected = riff(
        &[
            riff_chunk(b"VP8X", &[&[0x10, 0, 0, 0], &vp8x[4..]].concat()),
            riff_chunk(b"VP8L", &vp8l),
        ]
        .concat(),
    );
    assert_eq!(back, expected);
    let decoded = image::load_from_memory(&back).expect("decodes").to_rgba8();
    assert_eq!(decoded.into_raw(), pixels);
    app.stop().await;
}

/// Where each marker of a JPEG starts (segments and scans walked).
fn jpeg_markers(b: &[u8]) -> Vec<(usize, u8)> {
    let mut out = Vec::new();
    let mut i = 2;
    while i + 1 < b.len() {
        assert_eq!(b[i], 0xFF, "a marker at {i}");
        let m = b[i + 1];
        out.push((i, m));
        if m == 0xD9 {
            break;
        }
        let len = u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
        i += 2 + len;
        if m == 0xDA {
            while !(b[i] == 0xFF && b[i + 1] != 0 && !(0xD0..=0xD7).contains(&b[i + 1])) {
                i += 1;
            }
        }
    }
    out
}

fn jpeg_segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![0xFF, marker];
    s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    s.extend_from_slice(payload);
    s
}

#[tokio::test]
async fn a_progressive_jpeg_comes_back_without_thumbnails_and_exif_between_scans() {
    let app = spawn_app().await;
    let token = app.token(Role::Organiser).await;
    let (w, h) = (48u16, 32u16);
    let pixels = noise(w as u32, h as u32, 3, 13);
    let mut clean = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut clean, 90);
    encoder.set_progressive(true);
    encoder.set_restart_interval(2);
    encoder
        .encode(&pixels, w, h, jpeg_encoder::ColorType::Rgb)
        .expect("encode JPEG");
    let markers = jpeg_markers(&clean);
    let scans: Vec<usize> = (0..markers.len())
        .filter(|&k| markers[k].1 == 0xDA)
        .collect();
    assert!(scans.len() >= 2, "progressive: {markers:?}");
    assert_eq!(markers[0].1, 0xE0, "the encoder's JFIF first");
    let jfif_end = markers[1].0;
    // Where the first scan's data ends: the next scan's tables follow.
    let between = markers[scans[0] + 1].0;
    assert!(
        contains(&clean[markers[scans[0]].0..between], &[0xFF, 0xD0]),
        "restart markers in the scan"
    );

    // The JFIF with a 4x1 thumbnail (its 12 RGB bytes spell a marker), a
    // JFXX extension with the uncropped original as a JPEG thumbnail, an
    // ICC profile; between the scans Exif, XMP and a comment; after EOI
    // a trailer.
    let mut jfif = clean[6..6 + 12].to_vec();
    assert!(jfif.starts_with(b"JFIF\0"));
    jfif.extend_from_slice(&[4, 1]);
    jfif.extend_from_slice(b"CanaryThumb!");
    let original = noise_jpeg(96, 64, 14);
    let jfxx = [b"JFXX\0\x10".as_slice(), &original].concat();
    let dirty = [
        clean[..2].to_vec(),
        jpeg_segment(0xE0, &jfif),
        jpeg_segment(0xE0, &jfxx),
        jpeg_segment(0xE2, b"ICC_PROFILE\0\x01\x01Canary office screen"),
        clean[jfif_end..between].to_vec(),
        jpeg_segment(0xE1, &[b"Exif\0\0".as_slice(), &exif_tiff()].concat()),
        jpeg_segment(
            0xE1,
            &[b"http://ns.adobe.com/xap/1.0/\0".as_slice(), &xmp()].concat(),
        ),
        jpeg_segment(0xFE, b"Canary comment: Almaty, Abay ave 10"),
        clean[between..].to_vec(),
        b"Canary trailer after EOI".to_vec(),
    ]
    .concat();

    let (entry, back) = round_trip(&app, &token, &dirty, "IMG_0042.jpg").await;
    assert_eq!(entry["mime"], "image/jpeg");
    let [lat, lon] = gps_bytes();
    let thumbnail_scan = &original[original.len() - 64..original.len() - 2];
    none_of(
        &back,
        &[
            CANARY,
            &lat,
            &lon,
            b"JFXX",
            b"Exif",
            b"ICC_PROFILE",
            b"http://ns.adobe.com",
            b"xmpmeta",
            thumbnail_scan,
        ],
    );
    // The encoder's file exactly (its JFIF has no thumbnail), so the
    // same pixels.
    assert_eq!(back, clean);
    let decoded = image::load_from_memory(&back).expect("decodes").to_rgb8();
    let reference = image::load_from_memory(&clean).expect("decodes").to_rgb8();
    assert_eq!(decoded.dimensions(), (w as u32, h as u32));
    assert_eq!(decoded.into_raw(), reference.into_raw());
    app.stop().await;
}

/// The first image block of a GIF (after the screen and global table).
fn gif_first_block(b: &[u8]) -> usize {
    let packed = b[10];
    13 + if packed & 0x80 != 0 {
        3 * (1 << ((packed & 7) + 1))
    } else {
        0
    }
}

#[tokio::test]
async fn a_gif_comes_back_without_comments_and_application_blocks() {
    let app = spawn_app().await;
    let token = app.token(Role::Organiser).await;
    let (w, h) = (8u32, 6u32);
    let mut pixels = noise(w, h, 4, 15);
    pixels.chunks_mut(4).for_each(|p| p[3] = 255);
    let mut clean = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut clean);
        encoder
            .set_repeat(image::codecs::gif::Repeat::Infinite)
            .expect("repeat");
        encoder
            .encode(&pixels, w, h, image::ExtendedColorType::Rgba8)
            .expect("encode GIF");
    }
    let at = gif_first_block(&clean);
    let sub_blocks = |data: &[u8]| -> Vec<u8> {
        let mut v = Vec::new();
        for part in data.chunks(255) {
            v.push(part.len() as u8);
            v.extend_from_slice(part);
        }
        v.push(0);
        v
    };
    let dirty = [
        clean[..at].to_vec(),
        [
            b"\x21\xFE".as_slice(),
            &sub_blocks(b"Canary comment: Almaty"),
        ]
        .concat(),
        [b"\x21\xFF\x0BXMP DataXMP".as_slice(), &sub_blocks(&xmp())].concat(),
        [
            b"\x21\xFF\x0BICCRGBG1012".as_slice(),
            &sub_blocks(b"Canary office screen"),
        ]
        .concat(),
        [
            b"\x21\x01\x0C\0\0\0\0\x08\0\x06\0\x01\x01\0\x01".as_slice(),
            &sub_blocks(b"Canary drawn text"),
        ]
        .concat(),
        clean[at..].to_vec(),
        b"Canary trailer".to_vec(),
    ]
    .concat();

    let (entry, back) = round_trip(&app, &token, &dirty, "wave.gif").await;
    assert_eq!(entry["kind"], "animation");
    none_of(&back, &[CANARY, b"XMP Data", b"ICCRGBG1", b"xmpmeta"]);
    // The encoder's own blocks only (its looping block included): the
    // same bytes, the same pixels.
    assert!(contains(&back, b"NETSCAPE2.0"), "looping kept");
    assert_eq!(back, clean);
    let decoded = image::load_from_memory(&back).expect("decodes").to_rgba8();
    let reference = image::load_from_memory(&clean).expect("decodes").to_rgba8();
    assert_eq!(decoded.into_raw(), reference.into_raw());
    app.stop().await;
}

fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(payload);
    v
}

fn full_box(kind: &[u8; 4], version: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    bx(kind, &[&[version, 0, 0, flags][..], payload].concat())
}

fn be32(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// A time in the MP4 epoch (seconds since 1904): 2026-11-30, planted in
/// every header as the 32-bit value or the low half of the 64-bit one.
const WHEN: u32 = 0xE6C1_F3A5;

/// A track of one chunk at `offset` with samples of `sizes`; its headers
/// in version `v` (0 or 1) with the creation and modification times set.
fn mp4_track(
    id: u32,
    handler: &[u8; 4],
    v: u8,
    offset: u32,
    sizes: &[u32],
    udta: &[u8],
) -> Vec<u8> {
    let times = |v: u8| {
        if v == 0 {
            be32(&[WHEN, WHEN])
        } else {
            be32(&[0, WHEN, 0, WHEN])
        }
    };
    let tkhd = full_box(
        b"tkhd",
        v,
        3,
        &[
            times(v),
            be32(&[id, 0]),
            if v == 0 { be32(&[60]) } else { be32(&[0, 60]) },
            vec![0; 60],
        ]
        .concat(),
    );
    let mdhd = full_box(
        b"mdhd",
        1 - v,
        0,
        &[
            times(1 - v),
            be32(&[600]),
            if v == 1 { be32(&[60]) } else { be32(&[0, 60]) },
            vec![0x55, 0xC4, 0, 0],
        ]
        .concat(),
    );
    let hdlr = full_box(
        b"hdlr",
        0,
        0,
        &[&[0; 4][..], handler, &[0; 12], b"Canary handler\0"].concat(),
    );
    let header = match handler {
        b"vide" => full_box(b"vmhd", 0, 1, &[0; 8]),
        _ => full_box(b"nmhd", 0, 0, b""),
    };
    let dinf = bx(
        b"dinf",
        &full_box(
            b"dref",
            0,
            0,
            &[be32(&[1]), full_box(b"url ", 0, 1, b"")].concat(),
        ),
    );
    let stbl = bx(
        b"stbl",
        &[
            full_box(b"stsd", 0, 0, &be32(&[0])),
            full_box(b"stts", 0, 0, &be32(&[1, sizes.len() as u32, 30])),
            full_box(b"stsc", 0, 0, &be32(&[1, 1, sizes.len() as u32, 1])),
            full_box(
                b"stsz",
                0,
                0,
                &[be32(&[0, sizes.len() as u32]), be32(sizes)].concat(),
            ),
            full_box(b"stco", 0, 0, &be32(&[1, offset])),
        ]
        .concat(),
    );
    let minf = bx(b"minf", &[header, dinf, stbl].concat());
    bx(
        b"trak",
        &[
            tkhd,
            bx(b"mdia", &[mdhd, hdlr, minf].concat()),
            udta.to_vec(),
        ]
        .concat(),
    )
}

/// The boxes of `b[from..to]`: (type, start, payload start, end).
fn mp4_boxes(b: &[u8], from: usize, to: usize) -> Vec<([u8; 4], usize, usize, usize)> {
    let mut out = Vec::new();
    let mut i = from;
    while i < to {
        let size = u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = b[i + 4..i + 8].try_into().unwrap();
        assert!(size >= 8 && i + size <= to, "boxes tile");
        out.push((kind, i, i + 8, i + size));
        i += size;
    }
    out
}

#[tokio::test]
async fn an_mp4_comes_back_without_times_places_and_extra_tracks() {
    let app = spawn_app().await;
    let token = app.token(Role::Organiser).await;
    let ftyp = bx(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41");
    let video: Vec<u8> = noise(40, 1, 1, 16);
    let subtitle = b"\0\x1ACanary subtitle: Abay ave".to_vec();
    let location = b"Canary +43.2500+076.9167/".to_vec();
    let hidden = b"Canary bytes no track uses";
    let media = [
        video.clone(),
        subtitle.clone(),
        hidden.to_vec(),
        location.clone(),
    ]
    .concat();
    let at = (ftyp.len() + 8) as u32;
    let mdat = bx(b"mdat", &media);
    let ilst = bx(
        b"ilst",
        &bx(
            b"\xA9mak",
            &bx(b"data", b"\0\0\0\x01\0\0\0\0Canary phone maker"),
        ),
    );
    let udta = bx(
        b"udta",
        &[
            bx(b"\xA9xyz", b"\0\x12\x15\xC7+43.2500+076.9167/"),
            bx(b"\xA9day", b"\0\x18\x15\xC72026-11-30T09:15:00+0600"),
            full_box(
                b"meta",
                0,
                0,
                &[full_box(b"hdlr", 0, 0, &[0u8; 4 + 4 + 12 + 1]), ilst].concat(),
            ),
        ]
        .concat(),
    );
    let moov = bx(
        b"moov",
        &[
            full_box(
                b"mvhd",
                1,
                0,
                &[be32(&[0, WHEN, 0, WHEN, 600, 0, 60]), vec![0; 80]].concat(),
            ),
            mp4_track(
                1,
                b"vide",
                0,
                at,
                &[25, 15],
                &bx(b"udta", &bx(b"\xA9cmt", b"Canary note")),
            ),
            mp4_track(2, b"text", 1, at + 40, &[subtitle.len() as u32], b""),
            mp4_track(
                3,
                b"meta",
                0,
                at + (40 + subtitle.len() + hidden.len()) as u32,
                &[location.len() as u32],
                b"",
            ),
            udta,
        ]
        .concat(),
    );
    let uuid = bx(b"uuid", &[&[0xBE; 16][..], &xmp()].concat());
    let dirty = [ftyp, mdat, moov, uuid].concat();

    let (entry, back) = round_trip(&app, &token, &dirty, "clip.mp4").await;
    assert_eq!(entry["mime"], "video/mp4");
    assert_eq!(entry["kind"], "animation", "no sound track");
    none_of(
        &back,
        &[
            CANARY,
            &WHEN.to_be_bytes(),
            b"+43.2500",
            b"2026-11-30",
            b"udta",
            b"\xA9xyz",
            b"\xA9day",
            b"meta",
            b"ilst",
            b"uuid",
            b"text",
            b"xmpmeta",
        ],
    );
    // Nothing moved: the video samples where they were, one track left.
    assert_eq!(back.len(), dirty.len());
    let off = at as usize;
    assert_eq!(&back[off..off + 40], video.as_slice());
    let top = mp4_boxes(&back, 0, back.len());
    let kinds: Vec<&[u8; 4]> = top.iter().map(|b| &b.0).collect();
    assert_eq!(kinds, [b"ftyp", b"mdat", b"moov", b"free"]);
    let (_, _, payload, end) = top[2];
    let tracks: Vec<_> = mp4_boxes(&back, payload, end)
        .into_iter()
        .filter(|b| &b.0 == b"trak")
        .collect();
    assert_eq!(tracks.len(), 1);
    assert!(contains(&back[tracks[0].1..tracks[0].3], b"vide"));
    app.stop().await;
}

#[tokio::test]
async fn a_pdf_comes_back_without_info_xmp_history_and_authors() {
    let app = spawn_app().await;
    let token = app.token(Role::Organiser).await;
    let stream = |dict: &str, data: &[u8]| -> Vec<u8> {
        [
            format!("<< {dict} /Length {} >>\nstream\n", data.len()).as_bytes(),
            data,
            b"\nendstream",
        ]
        .concat()
    };
    // A photo with its Exif, drawn on the page.
    let photo = noise_jpeg(16, 16, 17);
    let photo = [
        &photo[..2],
        &jpeg_segment(0xE1, &[b"Exif\0\0".as_slice(), &exif_tiff()].concat()),
        &photo[2..],
    ]
    .concat();
    let draft = b"BT /F1 12 Tf 72 720 Td (Canary draft: meet at Abay ave 10) Tj ET";
    let first = pdf_file(
        &[
            b"<< /Type /Catalog /Pages 2 0 R /Metadata 6 0 R \
              /PieceInfo << /Illustrator << /Private (Canary layers) >> >> >>"
                .to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R \
              /Resources << /Font << /F1 5 0 R >> /XObject << /Im1 10 0 R >> >> \
              /Annots [7 0 R] /Thumb 9 0 R /LastModified (D:20261130091500+06'00') >>"
                .to_vec(),
            stream("", draft),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
            stream("/Type /Metadata /Subtype /XML", &xmp()),
            b"<< /Type /Annot /Subtype /Text /Rect [10 10 30 30] /Contents (Check the dose) \
              /T (Canary Reviewer) /M (D:20261130091500+06'00') \
              /CreationDate (D:20261130091500+06'00') >>"
                .to_vec(),
            b"<< /Title (Canary title) /Author (Canary Author) /Creator (Canary Word) \
              /Producer (Canary Producer) /CreationDate (D:20261130091500+06'00') \
              /ModDate (D:20261130091600+06'00') >>"
                .to_vec(),
            stream(
                "/Width 4 /Height 1 /ColorSpace /DeviceRGB /BitsPerComponent 8",
                b"CanaryThumb!",
            ),
            stream(
                "/Type /XObject /Subtype /Image /Width 16 /Height 16 /ColorSpace /DeviceRGB \
                 /BitsPerComponent 8 /Filter /DCTDecode",
                &photo,
            ),
        ],
        "/Info 8 0 R /ID [<43616E617279> <43616E617279>]",
    );
    // An incremental save: the page's text changed; the draft stays in
    // the file's first revision.
    let prev = {
        let s = String::from_utf8_lossy(&first);
        let at = s.rfind("startxref\n").unwrap() + 10;
        s[at..]
            .lines()
            .next()
            .unwrap()
            .trim()
            .parse::<usize>()
            .unwrap()
    };
    let text =
        b"q 100 0 0 100 72 500 cm /Im1 Do Q BT /F1 12 Tf 72 720 Td (Naloxone saves lives) Tj ET";
    let mut dirty = first.clone();
    let obj4 = dirty.len();
    dirty.extend_from_slice(b"4 0 obj\n");
    dirty.extend_from_slice(&stream("", text));
    dirty.extend_from_slice(b"\nendobj\n");
    let xref = dirty.len();
    dirty.extend_from_slice(
        format!(
            "xref\n0 1\n0000000000 65535 f \n4 1\n{obj4:010} 00000 n \ntrailer\n\
             << /Size 11 /Root 1 0 R /Info 8 0 R /Prev {prev} /ID [<43616E617279> <43616E617279>] >>\n\
             startxref\n{xref}\n%%EOF\n"
        )
        .as_bytes(),
    );
    dirty.extend_from_slice(b"Canary after the end");
    // The attack file reads as the PDF it claims to be.
    let original = lopdf::Document::load_mem(&dirty).expect("the attack file parses");
    assert!(original.trailer.get(b"Info").is_ok());

    let (entry, back) = round_trip(&app, &token, &dirty, "leaflet.pdf").await;
    assert_eq!(entry["kind"], "document");
    let [lat, lon] = gps_bytes();
    none_of(
        &back,
        &[
            CANARY,
            &lat,
            &lon,
            b"/Info",
            b"/ID",
            b"/Metadata",
            b"/PieceInfo",
            b"/Thumb",
            b"/LastModified",
            b"/Author",
            b"/Producer",
            b"D:2026",
            b"xmpmeta",
            b"Exif",
            b"Abay",
        ],
    );
    // Still the document: one page with its text, its annotation (without
    // author) and its picture, which still decodes.
    let doc = lopdf::Document::load_mem(&back).expect("parses");
    let pages = doc.get_pages();
    assert_eq!(pages.len(), 1);
    let page = *pages.values().next().unwrap();
    let content = doc.get_page_content(page);
    assert!(contains(&content, b"(Naloxone saves lives) Tj"));
    let annots = doc.get_page_annotations(page).expect("annotations");
    assert_eq!(annots.len(), 1);
    assert!(annots[0].get(b"T").is_err());
    assert_eq!(
        annots[0].get(b"Contents").unwrap().as_str().unwrap(),
        b"Check the dose"
    );
    let image = doc
        .objects
        .values()
        .filter_map(|o| o.as_stream().ok())
        .find(|s| s.dict.has_type(b"XObject"))
        .expect("the image");
    let decoded = image::load_from_memory(&image.content).expect("decodes");
    assert_eq!((decoded.width(), decoded.height()), (16, 16));
    app.stop().await;
}

/// Uploads `file`; returns the status and the error body.
async fn refused(app: &TestApp, token: &str, file: &[u8], name: &str) -> (u16, Value) {
    let boundary = "nsv-metadata-refusal";
    let body = [
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes(),
        file.to_vec(),
        format!("\r\n--{boundary}--\r\n").into_bytes(),
    ]
    .concat();
    let r = app
        .http
        .post(app.url("/api/v1/admin/media"))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("POST media");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn files_the_walkers_do_not_understand_are_refused_with_a_reason() {
    let app = spawn_app().await;
    let token = app.token(Role::Organiser).await;
    // An arithmetic-coded JPEG (SOF10): not walked, not stored.
    let mut arithmetic = noise_jpeg(8, 8, 18);
    let sof = jpeg_markers(&arithmetic)
        .into_iter()
        .find(|m| m.1 == 0xC0)
        .unwrap()
        .0;
    arithmetic[sof + 1] = 0xCA;
    // A PNG with a critical chunk no decoder may skip.
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&[0; 3], 1, 1, image::ExtendedColorType::Rgb8)
        .unwrap();
    let png = [&png[..33], &png_chunk(b"CNRY", b"Canary")[..], &png[33..]].concat();
    // A fragmented MP4 (movie fragments after the movie).
    let ftyp = bx(b"ftyp", b"isom\0\0\x02\0isomiso2mp41");
    let moov = bx(b"moov", &mp4_track(1, b"vide", 0, 0, &[], b""));
    let fragmented = [ftyp, moov, bx(b"moof", &[0; 16]), bx(b"mdat", b"Canary")].concat();
    // Not a PDF after its first line.
    let pdf = b"%PDF-1.7\nCanary: not a document\n".to_vec();
    for (file, name, says) in [
        (arithmetic, "a.jpg", "JPEG"),
        (png, "b.png", "PNG"),
        (fragmented, "c.mp4", "MP4"),
        (pdf, "d.pdf", "PDF"),
    ] {
        let (status, e) = refused(&app, &token, &file, name).await;
        assert_eq!(status, 415, "{name}: {e}");
        assert_eq!(e["error"]["code"], "unsupported_media_type", "{name}");
        let message = e["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("not stored: the "), "{name}: {message}");
        assert!(message.contains(says), "{name}: {message}");
        assert!(!message.contains("Canary"), "{name}: {message}");
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM media")
        .fetch_one(&app.infra.db)
        .await
        .unwrap();
    assert_eq!(stored, 0);
    app.stop().await;
}
