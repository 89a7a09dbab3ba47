//! PNG: every chunk walked from the signature to IEND and only an
//! allowlist kept. Must never copy a chunk it does not know, nor anything
//! after IEND.
//!
//! Kept: IHDR, PLTE, IDAT, IEND and tRNS (the picture and its
//! transparency), and the colour chunks that are fixed-size numbers
//! (cHRM 32 bytes, gAMA 4, sRGB 1, sBIT 1 to 4): they change how the
//! pixels look and cannot carry text. iCCP goes, for the reasons given in
//! `jpeg.rs` (free text, device and creator fields, a calibrated device's
//! fingerprint). Dropped: every other ancillary chunk (eXIf, tEXt, zTXt,
//! iTXt with XMP, tIME, pHYs, APNG frames, private chunks such as
//! Apple's iDOT or C2PA's caBX), which decoders may skip by the PNG
//! standard. Refused: an unknown critical chunk (one a decoder may not
//! skip), a first chunk other than IHDR, a file that ends before IEND.
//! The Exif orientation alone is written back, as a new eXIf chunk.

use super::{Refused, orientation, orientation_exif};

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

const REFUSED: Refused = Refused(
    "the PNG could not be read from start to end, or it holds a part the library \
     does not know; save it again as an ordinary PNG",
);

/// Whether a chunk of this type and data length is kept.
fn kept(kind: &[u8; 4], len: usize) -> bool {
    match kind {
        b"IHDR" => len == 13,
        // At most 256 colours; transparency at most one byte per colour.
        b"PLTE" => len.is_multiple_of(3) && len <= 768,
        b"tRNS" => len <= 256,
        b"IDAT" => true,
        b"IEND" => len == 0,
        b"cHRM" => len == 32,
        b"gAMA" => len == 4,
        b"sRGB" => len == 1,
        b"sBIT" => (1..=4).contains(&len),
        _ => false,
    }
}

/// A chunk: length, type, data and CRC.
fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(data.len() + 12);
    c.extend_from_slice(&(data.len() as u32).to_be_bytes());
    c.extend_from_slice(kind);
    c.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    c.extend_from_slice(&crc.finalize().to_be_bytes());
    c
}

/// `b` with only the allowlisted chunks; see the module's comment.
pub fn strip(b: &[u8]) -> Result<Vec<u8>, Refused> {
    if !b.starts_with(SIGNATURE) {
        return Err(REFUSED);
    }
    let mut out = SIGNATURE.to_vec();
    let mut orient: Option<u16> = None;
    let mut seen_exif = false;
    let mut idat = false;
    let mut i = SIGNATURE.len();
    loop {
        let first = i == SIGNATURE.len();
        let len = u32::from_be_bytes(
            b.get(i..i + 4)
                .ok_or(REFUSED)?
                .try_into()
                .map_err(|_| REFUSED)?,
        );
        if len > i32::MAX as u32 {
            return Err(REFUSED);
        }
        let len = len as usize;
        let kind: [u8; 4] = b
            .get(i + 4..i + 8)
            .ok_or(REFUSED)?
            .try_into()
            .map_err(|_| REFUSED)?;
        let whole = b.get(i..i + 12 + len).ok_or(REFUSED)?;
        let data = &whole[8..8 + len];
        i += 12 + len;
        // Exactly one IHDR, first.
        if !kind.iter().all(u8::is_ascii_alphabetic) || first != (&kind == b"IHDR") {
            return Err(REFUSED);
        }
        if &kind == b"eXIf" && !seen_exif {
            seen_exif = true;
            orient = orientation(data);
        }
        if kept(&kind, len) {
            if &kind == b"IDAT" && !idat {
                idat = true;
                // The orientation before the picture data, as the PNG
                // standard asks of eXIf.
                if let Some(o) = orient.take() {
                    out.extend_from_slice(&chunk(b"eXIf", &orientation_exif(o)));
                }
            }
            out.extend_from_slice(whole);
            if &kind == b"IEND" {
                return if idat { Ok(out) } else { Err(REFUSED) };
            }
        } else if kind[0].is_ascii_uppercase() {
            // Critical (bit 5 of the first byte clear): not to be skipped.
            return Err(REFUSED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(middle: &[Vec<u8>]) -> Vec<u8> {
        let mut v = SIGNATURE.to_vec();
        v.extend(chunk(b"IHDR", b"\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0"));
        for c in middle {
            v.extend_from_slice(c);
        }
        v.extend(chunk(b"IDAT", &[7; 12]));
        v.extend(chunk(b"IEND", b""));
        v
    }

    #[test]
    fn only_the_allowlist_is_kept() {
        let colour = [chunk(b"gAMA", &[0, 1, 0x86, 0xA0]), chunk(b"sRGB", &[0])];
        let dirty = png(&[
            colour[0].clone(),
            chunk(
                b"iTXt",
                b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta>Almaty</x:xmpmeta>",
            ),
            chunk(b"iCCP", b"Office scanner\0\0zz"),
            colour[1].clone(),
            chunk(b"tXMP", b"creator=someone"),
            chunk(b"pHYs", &[0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1]),
            chunk(b"gAMA", b"too long for gAMA"),
        ]);
        let dirty = [dirty.as_slice(), b"after the end"].concat();
        let out = strip(&dirty).expect("walks");
        assert_eq!(out, png(&colour));
    }

    #[test]
    fn unknown_critical_chunks_and_truncation_are_refused() {
        assert_eq!(strip(&png(&[chunk(b"QWER", b"?")])), Err(REFUSED));
        let clean = png(&[]);
        assert_eq!(strip(&clean[..clean.len() - 12]), Err(REFUSED));
        // IHDR not first.
        let late = [SIGNATURE.as_slice(), &chunk(b"gAMA", &[0; 4]), &clean[8..]].concat();
        assert_eq!(strip(&late), Err(REFUSED));
        // No IDAT.
        let empty = [&clean[..33], &chunk(b"IEND", b"")[..]].concat();
        assert_eq!(strip(&empty), Err(REFUSED));
        assert_eq!(strip(&clean), Ok(clean));
    }
}
