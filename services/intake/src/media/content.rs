//! What an uploaded file is, decided by its bytes alone (never its name or
//! declared type), and its metadata removed without re-encoding.
//!
//! Taken: JPEG, PNG, WebP (images), GIF (animations), MP4 (an animation
//! when it has no sound track, as Telegram's GIFs are; a video otherwise)
//! and PDF (documents). Types by magic bytes with `infer`; images parsed
//! and rewritten with `img-parts`, which keeps the compressed picture data
//! byte for byte:
//! - JPEG: every APPn segment except JFIF (APP0), ICC profiles (APP2
//!   `ICC_PROFILE`) and Adobe (APP14), and every comment, are dropped; so is
//!   anything after the first image's end (the extra pictures of MPF files,
//!   which carry their own EXIF). Exif goes, GPS and serials with it; only
//!   the orientation survives, in a new 26-byte Exif block, so phone photos
//!   are not shown on their side.
//! - PNG: `eXIf`, `tEXt`, `zTXt`, `iTXt` and `tIME` chunks are dropped (the
//!   orientation kept as for JPEG).
//! - WebP: the `EXIF` and `XMP ` chunks are dropped (the VP8X flags follow).
//!
//! - GIF: comments and application extensions other than looping are
//!   overwritten with zeros; anything after the trailer is dropped.
//! - MP4: `udta` and `meta` boxes (in `moov` and its tracks, and at the top
//!   level with `uuid`, where XMP goes) become `free` boxes of zeros of the
//!   same size, so the tracks' sample offsets stay right.
//!
//! PDFs are stored as uploaded (their document information is not read).

use axum::body::Bytes;
use img_parts::ImageEXIF;
use img_parts::jpeg::Jpeg;
use img_parts::png::Png;
use img_parts::riff::RiffContent;
use img_parts::webp::WebP;

/// What the library holds a file as (what Telegram sends it with).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// sendPhoto.
    Image,
    /// sendAnimation.
    Animation,
    /// sendVideo.
    Video,
    /// sendDocument.
    Document,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Animation => "animation",
            Kind::Video => "video",
            Kind::Document => "document",
        }
    }
}

/// A file's type, from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    pub kind: Kind,
    pub mime: &'static str,
}

/// The kind and MIME type of `bytes` by their magic bytes; `None` for
/// anything the library does not take.
pub fn sniff(bytes: &[u8]) -> Option<Sniffed> {
    let found = infer::get(bytes)?;
    let (kind, mime) = match found.mime_type() {
        "image/jpeg" => (Kind::Image, "image/jpeg"),
        "image/png" => (Kind::Image, "image/png"),
        "image/webp" => (Kind::Image, "image/webp"),
        "image/gif" => (Kind::Animation, "image/gif"),
        "video/mp4" => {
            let kind = match mp4_has_sound(bytes)? {
                true => Kind::Video,
                false => Kind::Animation,
            };
            (kind, "video/mp4")
        }
        // infer looks for `%PDF` in the first KiB; a PDF starts with it.
        "application/pdf" if bytes.starts_with(b"%PDF-") => (Kind::Document, "application/pdf"),
        _ => return None,
    };
    Some(Sniffed { kind, mime })
}

/// `bytes` without their metadata (see the module's comment); `None` when
/// an image does not parse as the type its magic bytes claim.
pub fn strip(sniffed: Sniffed, bytes: Bytes) -> Option<Bytes> {
    match sniffed.mime {
        "image/jpeg" => strip_jpeg(bytes),
        "image/png" => strip_png(bytes),
        "image/webp" => strip_webp(bytes),
        "image/gif" => strip_gif(&bytes),
        "video/mp4" => strip_mp4(&bytes),
        _ => Some(bytes),
    }
}

const APP0: u8 = 0xE0;
const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;
const COM: u8 = 0xFE;

fn strip_jpeg(bytes: Bytes) -> Option<Bytes> {
    let end = jpeg_end(&bytes).unwrap_or(bytes.len());
    let mut jpeg = Jpeg::from_bytes(bytes.slice(..end)).ok()?;
    let orientation = jpeg.exif().and_then(|e| orientation(&e));
    jpeg.segments_mut().retain(|s| {
        let m = s.marker();
        let app = (APP0..=APP0 + 15).contains(&m);
        let keep_app =
            m == APP0 || m == APP14 || (m == APP2 && s.contents().starts_with(b"ICC_PROFILE\0"));
        !(m == COM || (app && !keep_app))
    });
    if let Some(o) = orientation {
        jpeg.set_exif(Some(orientation_exif(o)));
    }
    Some(jpeg.encoder().bytes())
}

fn strip_png(bytes: Bytes) -> Option<Bytes> {
    let mut png = Png::from_bytes(bytes).ok()?;
    let orientation = png.exif().and_then(|e| orientation(&e));
    for kind in [*b"eXIf", *b"tEXt", *b"zTXt", *b"iTXt", *b"tIME"] {
        png.remove_chunks_by_type(kind);
    }
    if let Some(o) = orientation {
        png.set_exif(Some(orientation_exif(o)));
    }
    Some(png.encoder().bytes())
}

fn strip_webp(bytes: Bytes) -> Option<Bytes> {
    let mut webp = WebP::from_bytes(bytes).ok()?;
    let orientation = webp.exif().and_then(|e| orientation(&e));
    webp.remove_chunks_by_id(*b"XMP ");
    // set_exif also brings the VP8X flags in line with the chunks left.
    webp.set_exif(orientation.map(orientation_exif));
    // img-parts keeps the ICC and EXIF flags in step, not the XMP one.
    if let Some(vp8x) = webp.chunks_mut().iter_mut().find(|c| c.id() == *b"VP8X")
        && let RiffContent::Data(data) = vp8x.content_mut()
        && !data.is_empty()
    {
        let mut flags = data.to_vec();
        flags[0] &= !0x04;
        *data = Bytes::from(flags);
    }
    Some(webp.encoder().bytes())
}

/// Where the first image of a JPEG ends (after its EOI marker), walking
/// the segments and the entropy-coded data; `None` if it never ends.
fn jpeg_end(b: &[u8]) -> Option<usize> {
    let mut i = 2;
    loop {
        // Skip fill bytes before a marker.
        while *b.get(i)? == 0xFF && *b.get(i + 1)? == 0xFF {
            i += 1;
        }
        if *b.get(i)? != 0xFF {
            return None;
        }
        let marker = *b.get(i + 1)?;
        i += 2;
        match marker {
            0xD9 => return Some(i),
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let len = u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]) as usize;
        i += len;
        if marker == 0xDA {
            // Entropy-coded data: 0xFF is followed by 0x00 (stuffing) or a
            // restart marker; anything else is the next marker.
            loop {
                if *b.get(i)? == 0xFF {
                    let next = *b.get(i + 1)?;
                    if next != 0x00 && !(0xD0..=0xD7).contains(&next) {
                        break;
                    }
                    i += 2;
                } else {
                    i += 1;
                }
            }
        }
    }
}

/// The Orientation tag (0x0112) of IFD0 in raw Exif (TIFF) data.
fn orientation(tiff: &[u8]) -> Option<u16> {
    let tiff = tiff.strip_prefix(b"Exif\0\0").unwrap_or(tiff);
    let big = match tiff.get(..4)? {
        b"MM\0*" => true,
        b"II*\0" => false,
        _ => return None,
    };
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = tiff.get(at..at + 2)?.try_into().ok()?;
        Some(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let b: [u8; 4] = tiff.get(4..8)?.try_into().ok()?;
    let ifd = if big {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    } as usize;
    let count = u16_at(ifd)? as usize;
    (0..count.min(512)).find_map(|n| {
        let entry = ifd + 2 + 12 * n;
        (u16_at(entry)? == 0x0112 && u16_at(entry + 2)? == 3)
            .then(|| u16_at(entry + 8))
            .flatten()
            .filter(|o| (2..=8).contains(o))
    })
}

/// A TIFF block with one IFD holding only Orientation = `o`.
fn orientation_exif(o: u16) -> Bytes {
    let mut t = Vec::with_capacity(26);
    t.extend_from_slice(b"II*\0");
    t.extend_from_slice(&8u32.to_le_bytes());
    t.extend_from_slice(&1u16.to_le_bytes());
    t.extend_from_slice(&0x0112u16.to_le_bytes());
    t.extend_from_slice(&3u16.to_le_bytes());
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&o.to_le_bytes());
    t.extend_from_slice(&[0, 0]);
    t.extend_from_slice(&0u32.to_le_bytes());
    Bytes::from(t)
}

/// Whether an MP4 has a sound track (a `soun` handler in one of its
/// tracks); `None` if its boxes do not parse or it has no `moov`.
fn mp4_has_sound(b: &[u8]) -> Option<bool> {
    let moov = boxes(b)?.into_iter().find(|(t, _)| t == b"moov")?.1;
    let mut sound = false;
    for (t, trak) in boxes(moov)? {
        if &t != b"trak" {
            continue;
        }
        for (t, mdia) in boxes(trak)? {
            if &t != b"mdia" {
                continue;
            }
            for (t, hdlr) in boxes(mdia)? {
                // version+flags (4), pre_defined (4), handler_type (4).
                if &t == b"hdlr" && hdlr.get(8..12) == Some(b"soun") {
                    sound = true;
                }
            }
        }
    }
    Some(sound)
}

/// The boxes directly in `b`: (type, payload); `None` if they do not tile it.
fn boxes(b: &[u8]) -> Option<Vec<([u8; 4], &[u8])>> {
    Some(
        spans(b, 0, b.len())?
            .into_iter()
            .map(|s| (s.kind, &b[s.payload..s.end]))
            .collect(),
    )
}

/// Where a box is in the file.
#[derive(Debug, Clone, Copy)]
struct Span {
    kind: [u8; 4],
    start: usize,
    payload: usize,
    end: usize,
}

/// The boxes that tile `b[from..to]`; `None` if they do not.
fn spans(b: &[u8], from: usize, to: usize) -> Option<Vec<Span>> {
    let b = b.get(..to)?;
    let mut out = Vec::new();
    let mut i = from;
    while i < b.len() {
        let size = u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?) as u64;
        let kind: [u8; 4] = b.get(i + 4..i + 8)?.try_into().ok()?;
        let (header, size) = match size {
            0 => (8u64, (b.len() - i) as u64),
            1 => (
                16,
                u64::from_be_bytes(b.get(i + 8..i + 16)?.try_into().ok()?),
            ),
            s => (8, s),
        };
        if size < header {
            return None;
        }
        let end = i.checked_add(usize::try_from(size).ok()?)?;
        let payload = i + header as usize;
        b.get(payload..end)?;
        out.push(Span {
            kind,
            start: i,
            payload,
            end,
        });
        i = end;
    }
    Some(out)
}

/// An MP4 with its metadata boxes (`udta`, `meta`, and top-level `uuid`,
/// where XMP goes: phones put the place a video was taken there) turned
/// into `free` boxes of zeros. Sizes stay, so the sample offsets of the
/// tracks stay right; the pictures and sound are untouched.
fn strip_mp4(bytes: &[u8]) -> Option<Bytes> {
    let mut b = bytes.to_vec();
    let blank = |b: &mut Vec<u8>, s: &Span| {
        b[s.start + 4..s.start + 8].copy_from_slice(b"free");
        b[s.payload..s.end].fill(0);
    };
    for top in spans(bytes, 0, bytes.len())? {
        match &top.kind {
            b"udta" | b"meta" | b"uuid" => blank(&mut b, &top),
            b"moov" => {
                for child in spans(bytes, top.payload, top.end)? {
                    match &child.kind {
                        b"udta" | b"meta" => blank(&mut b, &child),
                        b"trak" => {
                            for inner in spans(bytes, child.payload, child.end)? {
                                if matches!(&inner.kind, b"udta" | b"meta") {
                                    blank(&mut b, &inner);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(Bytes::from(b))
}

/// A GIF with its comments and application extensions (XMP and the
/// like; the looping ones, NETSCAPE2.0 and ANIMEXTS1.0, are kept) blanked
/// to zeros in place, and nothing after its trailer; `None` if its blocks
/// do not parse.
fn strip_gif(bytes: &[u8]) -> Option<Bytes> {
    let mut b = bytes.to_vec();
    let table = |packed: u8| {
        if packed & 0x80 != 0 {
            3 * (1usize << ((packed & 7) + 1))
        } else {
            0
        }
    };
    // Header (6) and logical screen descriptor (7), then the global table.
    let mut i = 13 + table(*bytes.get(10)?);
    // Walks sub-blocks from `i`; blanks their data when asked; returns the
    // position after the terminator.
    let sub_blocks = |b: &mut Vec<u8>, mut i: usize, blank: bool| -> Option<usize> {
        loop {
            let len = *b.get(i)? as usize;
            i += 1;
            if len == 0 {
                return Some(i);
            }
            b.get(i..i + len)?;
            if blank {
                b[i..i + len].fill(0);
            }
            i += len;
        }
    };
    loop {
        match *b.get(i)? {
            0x3B => {
                b.truncate(i + 1);
                return Some(Bytes::from(b));
            }
            0x2C => {
                // Image descriptor (9 after the separator), local table,
                // LZW minimum code size, then the image data.
                let packed = *b.get(i + 9)?;
                i += 10 + table(packed) + 1;
                i = sub_blocks(&mut b, i, false)?;
            }
            0x21 => {
                let label = *b.get(i + 1)?;
                i += 2;
                let blank = match label {
                    0xFE => true,
                    0xFF => {
                        let id = b.get(i + 1..i + 12)?;
                        !(*b.get(i)? == 11 && (id == b"NETSCAPE2.0" || id == b"ANIMEXTS1.0"))
                    }
                    _ => false,
                };
                i = sub_blocks(&mut b, i, blank)?;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_survives_in_a_block_of_its_own() {
        let exif = orientation_exif(6);
        assert_eq!(exif.len(), 26);
        assert_eq!(orientation(&exif), Some(6));
        assert_eq!(orientation(b"II*\0\x08\0\0\0\0\0"), None);
    }

    #[test]
    fn an_mp4_is_an_animation_without_sound() {
        fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
            let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
            v.extend_from_slice(kind);
            v.extend_from_slice(payload);
            v
        }
        let hdlr = |h: &[u8; 4]| bx(b"hdlr", &[&[0u8; 8][..], h, &[0; 12]].concat());
        let trak = |h: &[u8; 4]| bx(b"trak", &bx(b"mdia", &hdlr(h)));
        let ftyp = bx(b"ftyp", b"isom\0\0\x02\0isomiso2mp41");
        let silent = [ftyp.clone(), bx(b"moov", &trak(b"vide"))].concat();
        let with_sound = [
            ftyp.clone(),
            bx(b"moov", &[trak(b"vide"), trak(b"soun")].concat()),
        ]
        .concat();
        assert_eq!(sniff(&silent).map(|s| s.kind), Some(Kind::Animation));
        assert_eq!(sniff(&with_sound).map(|s| s.kind), Some(Kind::Video));
        // Boxes that do not tile the file: refused.
        let mut broken = silent.clone();
        broken.truncate(silent.len() - 3);
        assert_eq!(sniff(&broken), None);
    }

    #[test]
    fn an_mp4_loses_its_metadata_boxes_in_place() {
        fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
            let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
            v.extend_from_slice(kind);
            v.extend_from_slice(payload);
            v
        }
        let place = b"+43.2567+076.9286/";
        let ftyp = bx(b"ftyp", b"isom\0\0\x02\0isomiso2mp41");
        let trak = bx(
            b"trak",
            &[bx(b"tkhd", &[1; 20]), bx(b"udta", place)].concat(),
        );
        let moov = bx(
            b"moov",
            &[bx(b"mvhd", &[2; 20]), trak, bx(b"meta", place)].concat(),
        );
        let video = [ftyp, moov, bx(b"mdat", &[3; 64]), bx(b"udta", place)].concat();
        let sniffed = sniff(&video).expect("an mp4");
        let out = strip(sniffed, Bytes::from(video.clone())).expect("parses");
        assert_eq!(out.len(), video.len());
        assert!(!out.windows(place.len()).any(|w| w == place));
        assert!(out.windows(20).any(|w| w == [3; 20]), "media data kept");
        assert!(out.windows(20).any(|w| w == [1; 20]), "track header kept");
        assert_eq!(sniff(&out), Some(sniffed));
    }

    #[test]
    fn a_gif_loses_its_comments_and_keeps_looping() {
        let mut gif = b"GIF89a\x01\0\x01\0\x80\0\0".to_vec();
        gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
        gif.extend_from_slice(b"\x21\xFE\x06Almaty\0");
        gif.extend_from_slice(b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\0\0\0");
        gif.extend_from_slice(b"\x21\xFF\x0BXMP DataXMP\x05GPS43\0");
        gif.extend_from_slice(b"\x2C\0\0\0\0\x01\0\x01\0\0\x02\x02\x44\x01\0\x3B");
        let with_tail = [gif.as_slice(), b"trailing secrets"].concat();
        let sniffed = sniff(&with_tail).expect("a gif");
        let out = strip(sniffed, Bytes::from(with_tail)).expect("parses");
        assert_eq!(out.len(), gif.len());
        for gone in [&b"Almaty"[..], b"XMP Data", b"GPS43", b"secrets"] {
            assert!(!out.windows(gone.len()).any(|w| w == gone));
        }
        assert!(out.windows(11).any(|w| w == b"NETSCAPE2.0"));
        // Blocks that do not parse: refused.
        assert_eq!(
            strip(sniffed, Bytes::from_static(b"GIF89a\x01\0\x01\0\0\0\0\x99")),
            None
        );
    }

    /// Little-endian TIFF: Orientation 6 and a Make of "SN42" (inline).
    fn exif_with_serial() -> Vec<u8> {
        let mut t = b"II*\0\x08\0\0\0\x02\0".to_vec();
        t.extend_from_slice(b"\x0F\x01\x02\0\x04\0\0\0SN42");
        t.extend_from_slice(b"\x12\x01\x03\0\x01\0\0\0\x06\0\0\0");
        t.extend_from_slice(&[0; 4]);
        t
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn a_png_loses_its_text_and_exif_but_not_its_orientation() {
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
        let chunk = |kind: &[u8; 4], data: &[u8]| {
            let mut c = (data.len() as u32).to_be_bytes().to_vec();
            c.extend_from_slice(kind);
            c.extend_from_slice(data);
            c.extend_from_slice(&crc32(&[kind.as_slice(), data].concat()).to_be_bytes());
            c
        };
        let png = [
            b"\x89PNG\r\n\x1a\n".to_vec(),
            chunk(b"IHDR", b"\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0"),
            chunk(b"tEXt", b"Location\0Almaty"),
            chunk(b"eXIf", &exif_with_serial()),
            chunk(b"IDAT", &[7; 12]),
            chunk(b"IEND", b""),
            b"after the end".to_vec(),
        ]
        .concat();
        let sniffed = sniff(&png).expect("a png");
        assert_eq!(sniffed.kind, Kind::Image);
        let out = strip(sniffed, Bytes::from(png)).expect("parses");
        for gone in [&b"Almaty"[..], b"SN42", b"after the end"] {
            assert!(!contains(&out, gone));
        }
        assert!(contains(&out, &orientation_exif(6)));
        assert!(contains(&out, &[7; 12]));
    }

    #[test]
    fn a_webp_loses_its_exif_and_xmp() {
        let chunk = |kind: &[u8; 4], data: &[u8]| {
            let mut c = kind.to_vec();
            c.extend_from_slice(&(data.len() as u32).to_le_bytes());
            c.extend_from_slice(data);
            if data.len() % 2 == 1 {
                c.push(0);
            }
            c
        };
        // VP8X: EXIF (0x08) and XMP (0x04) flags, a 1x1 canvas.
        let body = [
            b"WEBP".to_vec(),
            chunk(b"VP8X", b"\x0C\0\0\0\0\0\0\0\0\0"),
            chunk(b"VP8L", b"\x2F\0\0\0\0\x55\x55\x55"),
            chunk(b"EXIF", &exif_with_serial()),
            chunk(b"XMP ", b"<x:xmpmeta>GPS 43.25N</x:xmpmeta>"),
        ]
        .concat();
        let mut webp = b"RIFF".to_vec();
        webp.extend_from_slice(&(body.len() as u32).to_le_bytes());
        webp.extend_from_slice(&body);
        let sniffed = sniff(&webp).expect("a webp");
        let out = strip(sniffed, Bytes::from(webp)).expect("parses");
        assert!(!contains(&out, b"SN42") && !contains(&out, b"GPS 43.25N"));
        assert!(!contains(&out, b"XMP "));
        assert!(contains(&out, b"\x2F\0\0\0\0\x55\x55\x55"));
        // The orientation stays, with the VP8X flags saying so.
        assert!(contains(&out, &orientation_exif(6)));
        let flags = out[20];
        assert_eq!(flags & 0x0C, 0x08, "{out:?}");
    }

    #[test]
    fn text_and_svg_are_refused() {
        assert_eq!(sniff(b"hello, this is not a photo"), None);
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), None);
        assert_eq!(sniff(b"xx %PDF-1.4 not at the start"), None);
    }
}
