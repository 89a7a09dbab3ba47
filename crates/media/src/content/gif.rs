//! GIF: every block walked from the header to the trailer and the file
//! written anew from an allowlist. Must never copy a block it does not
//! know, nor anything after the trailer.
//!
//! Kept: the header, the logical screen and its colour table, image
//! descriptors with their colour tables and picture data, graphic
//! control extensions (frame delays, transparency), and the looping
//! count, rewritten as one plain NETSCAPE2.0 block. Dropped: comments,
//! plain-text extensions (drawn text, which browsers ignore) and every
//! other application extension (XMP, ICC profiles, editors' private
//! data). Refused: an unknown block or extension, a file cut short.

use super::Refused;

const REFUSED: Refused =
    Refused("the GIF could not be read from start to end; save it again as an ordinary GIF");

/// The size of a colour table announced by a packed-fields byte.
fn table(packed: u8) -> usize {
    if packed & 0x80 != 0 {
        3 * (1usize << ((packed & 7) + 1))
    } else {
        0
    }
}

/// The data sub-blocks from `i`: the position after their terminator.
fn sub_blocks(b: &[u8], mut i: usize) -> Result<usize, Refused> {
    loop {
        let len = *b.get(i).ok_or(REFUSED)? as usize;
        i += 1 + len;
        if len == 0 {
            return Ok(i);
        }
        if i > b.len() {
            return Err(REFUSED);
        }
    }
}

/// `b` with only the allowlisted blocks; see the module's comment.
pub fn strip(b: &[u8]) -> Result<Vec<u8>, Refused> {
    if !matches!(b.get(..6), Some(b"GIF87a" | b"GIF89a")) {
        return Err(REFUSED);
    }
    // Header (6) and logical screen descriptor (7), then the global table.
    let mut i = 13 + table(*b.get(10).ok_or(REFUSED)?);
    let mut out = b.get(..i).ok_or(REFUSED)?.to_vec();
    let mut looping = false;
    let mut images = 0;
    loop {
        match *b.get(i).ok_or(REFUSED)? {
            0x3B => {
                if images == 0 {
                    return Err(REFUSED);
                }
                out.push(0x3B);
                return Ok(out);
            }
            0x2C => {
                // Image descriptor (10 with the separator), local table,
                // LZW minimum code size, then the picture data.
                let packed = *b.get(i + 9).ok_or(REFUSED)?;
                let data = i + 10 + table(packed) + 1;
                let end = sub_blocks(b, data)?;
                out.extend_from_slice(&b[i..end]);
                images += 1;
                i = end;
            }
            0x21 => {
                let label = *b.get(i + 1).ok_or(REFUSED)?;
                let end = sub_blocks(b, i + 2)?;
                match label {
                    // Graphic control: one 4-byte sub-block.
                    0xF9 => {
                        if b[i + 2] != 4 || end != i + 8 {
                            return Err(REFUSED);
                        }
                        out.extend_from_slice(&b[i..end]);
                    }
                    0xFE | 0x01 => {}
                    0xFF => {
                        // Application identifier (8) and code (3), then
                        // for looping: sub-block 1 holds the count.
                        let id = b.get(i + 2..i + 14).ok_or(REFUSED)?;
                        let looped = matches!(id, b"\x0BNETSCAPE2.0" | b"\x0BANIMEXTS1.0")
                            && b.get(i + 14) == Some(&3)
                            && b.get(i + 15) == Some(&1);
                        if looped && !looping {
                            looping = true;
                            out.extend_from_slice(b"\x21\xFF\x0BNETSCAPE2.0\x03\x01");
                            out.extend_from_slice(b.get(i + 16..i + 18).ok_or(REFUSED)?);
                            out.push(0);
                        }
                    }
                    _ => return Err(REFUSED),
                }
                i = end;
            }
            _ => return Err(REFUSED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"GIF89a\x01\0\x01\0\x80\0\0\0\0\0\xFF\xFF\xFF";
    const IMAGE: &[u8] = b"\x2C\0\0\0\0\x01\0\x01\0\0\x02\x02\x44\x01\0";
    const LOOP: &[u8] = b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\0\0\0";

    #[test]
    fn comments_and_application_blocks_go_and_looping_stays() {
        let gce = b"\x21\xF9\x04\x01\x0A\0\0\0";
        let dirty = [
            HEAD,
            b"\x21\xFE\x06Almaty\0",
            b"\x21\xFF\x0BANIMEXTS1.0\x03\x01\x05\0\x03\x02ab\0",
            b"\x21\xFF\x0BXMP DataXMP\x05GPS43\0",
            b"\x21\x01\x0C\0\0\0\0\x01\0\x01\0\x01\x01\0\0\x04note\0",
            gce,
            IMAGE,
            b"\x3B",
            b"trailing secrets",
        ]
        .concat();
        let out = strip(&dirty).expect("walks");
        let expected = [
            HEAD,
            b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\x05\0\0",
            gce,
            IMAGE,
            b"\x3B",
        ]
        .concat();
        assert_eq!(out, expected);
        let clean = [HEAD, LOOP, IMAGE, b"\x3B"].concat();
        assert_eq!(strip(&clean), Ok(clean));
    }

    #[test]
    fn unknown_blocks_and_short_files_are_refused() {
        assert_eq!(
            strip(&[HEAD, b"\x99", IMAGE, b"\x3B"].concat()),
            Err(REFUSED)
        );
        assert_eq!(
            strip(&[HEAD, b"\x21\x77\x01x\0", IMAGE, b"\x3B"].concat()),
            Err(REFUSED)
        );
        assert_eq!(strip(&[HEAD, IMAGE].concat()), Err(REFUSED));
        assert_eq!(strip(&[HEAD, b"\x3B"].concat()), Err(REFUSED));
    }
}
