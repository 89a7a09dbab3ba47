//! What an uploaded file is, decided by its bytes alone (never its name or
//! declared type), and its metadata removed without re-encoding. Must
//! never store a byte it has not walked: each format's walker keeps an
//! allowlist and refuses what it does not understand.
//!
//! Taken: JPEG, PNG, WebP (images), GIF (animations), MP4 (an animation
//! when it has no sound track, as Telegram's GIFs are; a video otherwise)
//! and PDF (documents). Types by magic bytes with `infer`; then one walker
//! per format, each in its own module, whose comment lists what it keeps,
//! drops and refuses:
//! - [`jpeg`]: every segment from SOI to EOI, the scans included (Exif
//!   between progressive scans, JFXX thumbnails, ICC profiles go);
//! - [`png`]: IHDR, PLTE, IDAT, IEND, tRNS and fixed-size colour chunks;
//! - [`webp`]: VP8, VP8L, VP8X, ALPH, ANIM, ANMF, with the flags fixed;
//! - [`gif`]: pictures, frame controls and the looping count;
//! - [`mp4`]: times zeroed, video and sound tracks only, metadata boxes
//!   and unused media bytes blanked in place;
//! - [`pdf`]: written anew by lopdf without /Info, XMP and their kin.
//!
//! Only the Exif orientation of a photo survives, in a new 26-byte block,
//! so phone photos are not shown on their side.

mod gif;
mod jpeg;
mod mp4;
mod pdf;
mod png;
mod webp;

use bytes::Bytes;

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

/// Why a file was not stored, in words for the organiser who uploaded it
/// (fixed text: never anything read from the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused(pub &'static str);

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

/// `bytes` without their metadata (see the module's comment), or why
/// they cannot be stored.
pub fn strip(sniffed: Sniffed, bytes: Bytes) -> Result<Bytes, Refused> {
    let out = match sniffed.mime {
        "image/jpeg" => jpeg::strip(&bytes)?,
        "image/png" => png::strip(&bytes)?,
        "image/webp" => webp::strip(&bytes)?,
        "image/gif" => gif::strip(&bytes)?,
        "video/mp4" => mp4::strip(&bytes)?,
        "application/pdf" => pdf::strip(&bytes)?,
        _ => return Err(Refused("this type of file is not taken")),
    };
    Ok(Bytes::from(out))
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
fn orientation_exif(o: u16) -> Vec<u8> {
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
    t
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
        mp4::spans(b, 0, b.len())?
            .into_iter()
            .map(|s| (s.kind, &b[s.payload..s.end]))
            .collect(),
    )
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
        // The comment (10 bytes) and the XMP block (21) are gone.
        assert_eq!(out.len(), gif.len() - 31);
        for gone in [&b"Almaty"[..], b"XMP Data", b"GPS43", b"secrets"] {
            assert!(!out.windows(gone.len()).any(|w| w == gone));
        }
        assert!(out.windows(11).any(|w| w == b"NETSCAPE2.0"));
        // Blocks that do not parse: refused.
        assert!(strip(sniffed, Bytes::from_static(b"GIF89a\x01\0\x01\0\0\0\0\x99")).is_err());
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
