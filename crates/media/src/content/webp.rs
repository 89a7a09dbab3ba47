//! WebP: the RIFF chunks walked (and those inside animation frames) and
//! only an allowlist kept, the RIFF size and the VP8X flags rewritten for
//! what is left. Must never copy a chunk it does not know, nor anything
//! after the RIFF's end.
//!
//! Kept: VP8, VP8L (the picture), VP8X (flags rewritten, canvas size
//! kept), ALPH, ANIM, ANMF (inside a frame only ALPH, VP8 and VP8L).
//! Dropped: EXIF, `XMP `, `LIST` (RIFF INFO: artist, comment, software),
//! ICCP (see `jpeg.rs` for why) and unknown chunks, which the WebP
//! container standard tells readers to ignore. A simple (VP8 or VP8L
//! only) file keeps its one picture chunk. The Exif orientation alone is
//! written back as a new EXIF chunk of an extended file.
//! Refused: a RIFF that is not WebP or is cut short, a chunk running past
//! the RIFF's end, no picture at all.

use super::{Refused, orientation, orientation_exif};

const REFUSED: Refused =
    Refused("the WebP could not be read from start to end; save it again as an ordinary WebP");

/// VP8X flags (the first payload byte).
const ICC: u8 = 0x20;
const ALPHA: u8 = 0x10;
const EXIF: u8 = 0x08;
const ANIMATION: u8 = 0x02;

/// A chunk: its fourcc and payload.
type Chunk<'a> = ([u8; 4], &'a [u8]);

/// The chunks of `b` (a RIFF body).
fn chunks(b: &[u8]) -> Result<Vec<Chunk<'_>>, Refused> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let id: [u8; 4] = b
            .get(i..i + 4)
            .ok_or(REFUSED)?
            .try_into()
            .map_err(|_| REFUSED)?;
        let size = u32::from_le_bytes(
            b.get(i + 4..i + 8)
                .ok_or(REFUSED)?
                .try_into()
                .map_err(|_| REFUSED)?,
        ) as usize;
        let payload = b.get(i + 8..i + 8 + size).ok_or(REFUSED)?;
        out.push((id, payload));
        // Payloads are padded to an even size (the last pad may be missing).
        i += 8 + size + size % 2;
    }
    Ok(out)
}

fn put(out: &mut Vec<u8>, id: &[u8; 4], payload: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    if payload.len() % 2 == 1 {
        out.push(0);
    }
}

/// `b` with only the allowlisted chunks; see the module's comment.
pub fn strip(b: &[u8]) -> Result<Vec<u8>, Refused> {
    if b.get(..4) != Some(b"RIFF") || b.get(8..12) != Some(b"WEBP") {
        return Err(REFUSED);
    }
    let size = u32::from_le_bytes(b[4..8].try_into().map_err(|_| REFUSED)?) as usize;
    let body = b.get(12..8 + size.max(4)).ok_or(REFUSED)?;
    let list = chunks(body)?;
    let mut kept = Vec::with_capacity(body.len());
    let (first, _) = *list.first().ok_or(REFUSED)?;
    match &first {
        b"VP8 " | b"VP8L" => {
            put(&mut kept, &first, list[0].1);
        }
        b"VP8X" => {
            let mut orient = None;
            let mut seen_exif = false;
            let mut pictures = 0;
            let mut rest = Vec::new();
            for (id, payload) in &list[1..] {
                match id {
                    b"VP8 " | b"VP8L" => {
                        pictures += 1;
                        put(&mut rest, id, payload);
                    }
                    b"ALPH" => put(&mut rest, id, payload),
                    // Background colour (4) and loop count (2).
                    b"ANIM" if payload.len() == 6 => put(&mut rest, id, payload),
                    b"ANMF" => {
                        let header = payload.get(..16).ok_or(REFUSED)?;
                        let mut frame = header.to_vec();
                        let mut picture = false;
                        for (id, inner) in chunks(&payload[16..])? {
                            if matches!(&id, b"VP8 " | b"VP8L") {
                                picture = true;
                            }
                            if matches!(&id, b"VP8 " | b"VP8L" | b"ALPH") {
                                put(&mut frame, &id, inner);
                            }
                        }
                        if !picture {
                            return Err(REFUSED);
                        }
                        pictures += 1;
                        put(&mut rest, id, &frame);
                    }
                    b"EXIF" if !seen_exif => {
                        seen_exif = true;
                        orient = orientation(payload);
                    }
                    _ => {}
                }
            }
            if pictures == 0 {
                return Err(REFUSED);
            }
            let mut vp8x = list[0].1.get(..10).ok_or(REFUSED)?.to_vec();
            // Alpha and animation as they were; no ICC profile and no
            // XMP any more; EXIF only for the orientation; reserved bits 0.
            vp8x[0] = (vp8x[0] & (ALPHA | ANIMATION)) | if orient.is_some() { EXIF } else { 0 };
            vp8x[1..4].fill(0);
            debug_assert_eq!(vp8x[0] & ICC, 0);
            put(&mut kept, b"VP8X", &vp8x);
            kept.extend_from_slice(&rest);
            if let Some(o) = orient {
                put(&mut kept, b"EXIF", &orientation_exif(o));
            }
        }
        _ => return Err(REFUSED),
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&((kept.len() + 4) as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&kept);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn riff(body: &[u8]) -> Vec<u8> {
        let mut v = b"RIFF".to_vec();
        v.extend_from_slice(&((body.len() + 4) as u32).to_le_bytes());
        v.extend_from_slice(b"WEBP");
        v.extend_from_slice(body);
        v
    }

    fn c(id: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        put(&mut v, id, payload);
        v
    }

    #[test]
    fn frames_keep_their_pictures_and_lose_the_rest() {
        let frame = [
            vec![0; 16],
            c(b"VP8L", b"\x2F\0\0\0\0\x55\x55\x55"),
            c(b"XMP ", b"GPS 43.25N"),
        ]
        .concat();
        let dirty = riff(
            &[
                c(b"VP8X", b"\x3E\0\0\0\0\0\0\0\0\0"),
                c(b"ICCP", b"Office screen"),
                c(b"ANIM", &[0; 6]),
                c(b"ANMF", &frame),
                c(b"LIST", b"INFOIART\x06\0\0\0Aigul\0"),
                c(b"XMP ", b"<x:xmpmeta/>"),
            ]
            .concat(),
        );
        let out = strip(&dirty).expect("walks");
        let clean_frame = [vec![0; 16], c(b"VP8L", b"\x2F\0\0\0\0\x55\x55\x55")].concat();
        let expected = riff(
            &[
                // Alpha and animation stay; ICC, EXIF and XMP flags go.
                c(b"VP8X", b"\x12\0\0\0\0\0\0\0\0\0"),
                c(b"ANIM", &[0; 6]),
                c(b"ANMF", &clean_frame),
            ]
            .concat(),
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn a_simple_file_keeps_its_one_chunk_and_short_files_are_refused() {
        let simple = riff(&c(b"VP8L", b"\x2F\0\0\0\0\x55\x55\x55"));
        let dirty = riff(
            &[
                c(b"VP8L", b"\x2F\0\0\0\0\x55\x55\x55"),
                c(b"LIST", b"INFOICMT\x04\0\0\0Hi!\0"),
            ]
            .concat(),
        );
        assert_eq!(
            strip(&[dirty.as_slice(), b"trailer"].concat()),
            Ok(simple.clone())
        );
        assert_eq!(strip(&simple[..simple.len() - 2]), Err(REFUSED));
        // An extended file with no picture.
        let none = riff(&c(b"VP8X", &[0; 10]));
        assert_eq!(strip(&none), Err(REFUSED));
        assert_eq!(strip(b"RIFF\x04\0\0\0WAVE"), Err(REFUSED));
    }
}
