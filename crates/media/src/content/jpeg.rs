//! JPEG: every segment walked from SOI to EOI, the scans included (the
//! segments between progressive scans too), and only an allowlist kept.
//! Must never copy a segment it does not know, nor anything after EOI.
//!
//! Kept: a plain JFIF APP0 (rewritten: density kept, thumbnail dropped),
//! DQT, DHT, DRI, the baseline, extended and progressive frame headers
//! (SOF0, SOF1, SOF2), every SOS with its scan data (restart markers
//! included), EOI, and a 12-byte Adobe APP14 (its colour-transform flag
//! decides how CMYK and YCCK pictures decode; it holds no text).
//! Dropped: every other APPn (Exif, XMP, JFXX thumbnails, ICC profiles,
//! MPF, Photoshop, ...), comments, and the bytes after EOI. The Exif
//! orientation alone is written back in a 26-byte block of its own.
//! Refused: any other marker (arithmetic, lossless and hierarchical
//! coding, DNL, reserved markers), data outside a segment or a scan, a
//! file that ends before EOI.
//!
//! ICC profiles go: a profile holds free text (description, copyright),
//! a creator, a device maker and model and a creation date, and a
//! calibrated screen or scanner has one of its own, a fingerprint of the
//! office's machine. Telegram re-encodes photos anyway; a wide-gamut
//! photo shows slightly less saturated in an email.

use super::{Refused, orientation, orientation_exif};

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP14: u8 = 0xEE;
const COM: u8 = 0xFE;

const REFUSED: Refused = Refused(
    "the JPEG could not be read from start to end, or it uses a coding the library \
     cannot check (only baseline and progressive JPEGs are taken); save it again as an \
     ordinary JPEG",
);

/// `b` with only the allowlisted segments; see the module's comment.
pub fn strip(b: &[u8]) -> Result<Vec<u8>, Refused> {
    if b.get(..2) != Some(&[0xFF, SOI]) {
        return Err(REFUSED);
    }
    let mut jfif: Option<Vec<u8>> = None;
    let mut orient: Option<u16> = None;
    let mut seen_exif = false;
    let mut frame = false;
    let mut scans = 0usize;
    let mut body = Vec::with_capacity(b.len());
    let mut i = 2;
    loop {
        // Fill bytes (0xFF) may precede a marker.
        while b.get(i) == Some(&0xFF) && b.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if b.get(i) != Some(&0xFF) {
            return Err(REFUSED);
        }
        let marker = *b.get(i + 1).ok_or(REFUSED)?;
        i += 2;
        if marker == EOI {
            if scans == 0 {
                return Err(REFUSED);
            }
            body.extend_from_slice(&[0xFF, EOI]);
            break;
        }
        // Every other marker we take has a length.
        let len =
            u16::from_be_bytes([*b.get(i).ok_or(REFUSED)?, *b.get(i + 1).ok_or(REFUSED)?]) as usize;
        if len < 2 {
            return Err(REFUSED);
        }
        let segment = b.get(i - 2..i + len).ok_or(REFUSED)?;
        let payload = &segment[4..];
        i += len;
        match marker {
            APP0 => {
                // The first plain JFIF before the frame: identifier,
                // version (2), units, X and Y density (2 + 2), then the
                // thumbnail's size, which is written as 0 x 0.
                if jfif.is_none() && !frame && payload.len() >= 14 && payload.starts_with(b"JFIF\0")
                {
                    let mut s = vec![0xFF, APP0, 0, 16];
                    s.extend_from_slice(&payload[..12]);
                    s.extend_from_slice(&[0, 0]);
                    jfif = Some(s);
                }
            }
            APP1 => {
                if !seen_exif && payload.starts_with(b"Exif\0\0") {
                    seen_exif = true;
                    orient = orientation(payload);
                }
            }
            APP14 if payload.len() == 12 && payload.starts_with(b"Adobe") => {
                body.extend_from_slice(segment);
            }
            0xE2..=0xEF | COM => {}
            // DQT, DHT, DRI: tables, copied.
            0xDB | 0xC4 | 0xDD => body.extend_from_slice(segment),
            // Baseline, extended sequential, progressive (Huffman).
            0xC0..=0xC2 => {
                if frame {
                    return Err(REFUSED);
                }
                frame = true;
                body.extend_from_slice(segment);
            }
            SOS => {
                if !frame {
                    return Err(REFUSED);
                }
                scans += 1;
                body.extend_from_slice(segment);
                // Entropy-coded data up to the next marker: 0xFF is
                // followed by 0x00 (a stuffed byte) or a restart marker
                // inside a scan; anything else ends it.
                let start = i;
                loop {
                    match b.get(i) {
                        None => return Err(REFUSED),
                        Some(0xFF) => match b.get(i + 1) {
                            Some(0x00 | 0xD0..=0xD7) => i += 2,
                            Some(_) => break,
                            None => return Err(REFUSED),
                        },
                        Some(_) => i += 1,
                    }
                }
                body.extend_from_slice(&b[start..i]);
            }
            _ => return Err(REFUSED),
        }
    }
    let mut out = Vec::with_capacity(body.len() + 64);
    out.extend_from_slice(&[0xFF, SOI]);
    if let Some(jfif) = jfif {
        out.extend_from_slice(&jfif);
    }
    if let Some(o) = orient {
        let exif = [b"Exif\0\0".as_slice(), &orientation_exif(o)].concat();
        out.extend_from_slice(&[0xFF, APP1]);
        out.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&exif);
    }
    out.extend_from_slice(&body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        s.extend_from_slice(payload);
        s
    }

    /// A skeleton JPEG (not decodable, but shaped like one): SOF2 and two
    /// scans, with `between` placed between them.
    fn progressive(between: &[u8]) -> Vec<u8> {
        [
            vec![0xFF, SOI],
            segment(0xDB, &[0; 65]),
            segment(0xC2, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]),
            segment(0xC4, &[0; 20]),
            segment(SOS, &[1, 1, 0, 0, 0, 0]),
            vec![0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56],
            between.to_vec(),
            segment(SOS, &[1, 1, 0, 1, 5, 0]),
            vec![0x78, 0x9A],
            vec![0xFF, EOI],
            b"after the end".to_vec(),
        ]
        .concat()
    }

    #[test]
    fn segments_between_scans_go_and_scan_data_stays() {
        let exif = segment(APP1, b"Exif\0\0MM\0*\0\0\0\x08SERIAL-42");
        let comment = segment(COM, b"Almaty");
        let dirty = progressive(&[exif, comment].concat());
        let out = strip(&dirty).expect("walks");
        assert_eq!(out, progressive(&[])[..progressive(&[]).len() - 13]);
        let has = |n: &[u8]| out.windows(n.len()).any(|w| w == n);
        assert!(!has(b"SERIAL") && !has(b"Almaty") && !has(b"after the end"));
        assert!(has(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]));
    }

    #[test]
    fn jfif_loses_its_thumbnail_and_jfxx_goes() {
        let mut jfif = b"JFIF\0\x01\x02\x01\0\x48\0\x48\x02\x01".to_vec();
        jfif.extend_from_slice(b"THUMBPIXELS");
        let jfxx = segment(APP0, b"JFXX\0\x10\xFF\xD8UNCROPPED\xFF\xD9");
        let clean = progressive(&[]);
        let dirty = [&clean[..2], &segment(APP0, &jfif), &jfxx, &clean[2..]].concat();
        let out = strip(&dirty).expect("walks");
        let has = |n: &[u8]| out.windows(n.len()).any(|w| w == n);
        assert!(!has(b"THUMB") && !has(b"JFXX") && !has(b"UNCROPPED"));
        assert_eq!(
            &out[2..20],
            b"\xFF\xE0\0\x10JFIF\0\x01\x02\x01\0\x48\0\x48\0\0"
        );
    }

    #[test]
    fn unknown_markers_and_truncation_are_refused() {
        let clean = progressive(&[]);
        // Arithmetic coding (SOF10) instead of SOF2.
        let mut arithmetic = clean.clone();
        let at = arithmetic
            .windows(2)
            .position(|w| w == [0xFF, 0xC2])
            .unwrap();
        arithmetic[at + 1] = 0xCA;
        assert_eq!(strip(&arithmetic), Err(REFUSED));
        // A reserved marker between the scans.
        assert_eq!(strip(&progressive(&segment(0xF1, b"x"))), Err(REFUSED));
        // Ends in the middle of a scan; no EOI.
        let cut = clean.iter().rposition(|&b| b == 0x78).unwrap();
        assert_eq!(strip(&clean[..cut]), Err(REFUSED));
        // Garbage where a marker should be (after a scan it would be
        // scan data: that is opaque by nature).
        let garbage = [&clean[..2], b"garbage", &clean[2..]].concat();
        assert_eq!(strip(&garbage), Err(REFUSED));
        assert!(strip(&clean).is_ok());
    }
}
