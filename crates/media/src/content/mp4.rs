//! MP4: the box tree walked against an allowlist and cleaned in place, so
//! no size or offset changes and the sample tables stay right. Must never
//! leave a box it does not know, nor media-data bytes no kept track uses.
//!
//! - Times: the creation and modification times of `mvhd`, `tkhd` and
//!   `mdhd` (version 0 and 1) become 0 (1904-01-01, "unknown").
//! - Tracks: only video (`vide`) and sound (`soun`) tracks are kept; any
//!   other track (text, subtitles, timed metadata such as Apple's `mebx`
//!   location track or GoPro's GPMF, timecode, which is the time of day of
//!   the recording, hints, chapters) becomes a `free` box of zeros.
//! - Media data: every byte of an `mdat` that is not a sample of a kept
//!   track (so the samples of the dropped tracks, and anything hidden
//!   between samples) becomes zero; a kept track's sample outside every
//!   `mdat` is refused.
//! - Metadata boxes: `udta` (©xyz place, ©day date, ©mak, ©mod, ...),
//!   `meta` (Apple's keys, XMP), `uuid` (XMP, Sony's and others'
//!   private data) and the contents of `free`/`skip`/`wide` become `free`
//!   boxes of zeros at every level walked; handler names are zeroed;
//!   data references must be self-contained (no paths).
//! - Refused: boxes that do not tile their parent, any other box at a
//!   level walked (fragmented MP4s with `moof`/`mvex`, encrypted samples),
//!   no video or sound track, a version the walker does not know.
//!
//! Sample descriptions (`stsd`: codec set-up) and edit lists are kept as
//! they are, except a video sample entry's compressor name (32 bytes that
//! may name the camera: "GoPro AVC encoder"), which is zeroed. What an
//! encoder writes inside the coded pictures (x264's settings in an SEI
//! message) is picture data and stays.

use super::Refused;

const REFUSED: Refused = Refused(
    "the MP4 holds parts the library cannot check (it may be fragmented, encrypted \
     or cut short); export it again as an ordinary MP4",
);

/// Where a box is in the file.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub kind: [u8; 4],
    pub start: usize,
    pub payload: usize,
    pub end: usize,
}

/// The boxes that tile `b[from..to]`; `None` if they do not.
pub(super) fn spans(b: &[u8], from: usize, to: usize) -> Option<Vec<Span>> {
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

/// The walk's state: the file being cleaned and the kept samples.
struct Walk<'a> {
    src: &'a [u8],
    out: Vec<u8>,
    /// Byte ranges of the kept tracks' samples (start, end).
    samples: Vec<(usize, usize)>,
    tracks: usize,
    /// Whether the track being walked is a video track.
    video: bool,
}

impl Walk<'_> {
    fn children(&self, s: &Span) -> Result<Vec<Span>, Refused> {
        spans(self.src, s.payload, s.end).ok_or(REFUSED)
    }

    /// The box becomes `free`, its contents zeros.
    fn blank(&mut self, s: &Span) {
        // A 64-bit size (after the type) stays; only the payload is zeroed.
        self.out[s.start + 4..s.start + 8].copy_from_slice(b"free");
        self.out[s.payload..s.end].fill(0);
    }

    /// Zeroes the creation and modification times of an mvhd, tkhd or
    /// mdhd: version (1) and flags (3), then two 4-byte (version 0) or
    /// 8-byte (version 1) times.
    fn zero_times(&mut self, s: &Span) -> Result<(), Refused> {
        let width = match self.src.get(s.payload) {
            Some(0) => 4,
            Some(1) => 8,
            _ => return Err(REFUSED),
        };
        let times = s.payload + 4..s.payload + 4 + 2 * width;
        if times.end > s.end {
            return Err(REFUSED);
        }
        self.out[times].fill(0);
        Ok(())
    }

    /// Zeroes a handler's name: version and flags (4), pre-defined or
    /// component type (4), handler type (4), reserved (12), then the name.
    fn zero_handler_name(&mut self, s: &Span) -> Result<(), Refused> {
        if s.end < s.payload + 24 {
            return Err(REFUSED);
        }
        self.out[s.payload + 24..s.end].fill(0);
        Ok(())
    }

    /// A video sample entry: size and type (8), reserved (6), data
    /// reference index (2), pre-defined and reserved (16), width and
    /// height (4), resolutions (8), reserved (4), frame count (2), then
    /// the compressor name (32), zeroed here.
    fn zero_compressor_names(&mut self, stsd: &Span) -> Result<(), Refused> {
        // Version and flags (4), entry count (4), then the entries.
        for entry in spans(self.src, stsd.payload + 8, stsd.end).ok_or(REFUSED)? {
            if entry.end >= entry.start + 82 {
                self.out[entry.start + 50..entry.start + 82].fill(0);
            }
        }
        Ok(())
    }

    fn top(&mut self) -> Result<(), Refused> {
        let tops = spans(self.src, 0, self.src.len()).ok_or(REFUSED)?;
        if tops.first().map(|s| &s.kind) != Some(b"ftyp") {
            return Err(REFUSED);
        }
        let mut mdats = Vec::new();
        let mut moov = false;
        for s in &tops {
            match &s.kind {
                b"ftyp" => {}
                b"moov" if !moov => {
                    moov = true;
                    self.moov(s)?;
                }
                b"mdat" => mdats.push((s.payload, s.end)),
                b"free" | b"skip" | b"wide" | b"udta" | b"meta" | b"uuid" => self.blank(s),
                _ => return Err(REFUSED),
            }
        }
        if !moov || self.tracks == 0 {
            return Err(REFUSED);
        }
        self.zero_unused(&mdats)
    }

    /// Every byte of the media data that no kept sample uses becomes 0.
    fn zero_unused(&mut self, mdats: &[(usize, usize)]) -> Result<(), Refused> {
        let mut samples = std::mem::take(&mut self.samples);
        samples.sort_unstable();
        for &(start, end) in &samples {
            if !mdats.iter().any(|&(p, e)| p <= start && end <= e) {
                return Err(REFUSED);
            }
        }
        for &(p, e) in mdats {
            let mut at = p;
            for &(start, end) in samples.iter().filter(|(s, f)| p <= *s && *f <= e) {
                if start > at {
                    self.out[at..start].fill(0);
                }
                at = at.max(end);
            }
            if at < e {
                self.out[at..e].fill(0);
            }
        }
        Ok(())
    }

    fn moov(&mut self, moov: &Span) -> Result<(), Refused> {
        for s in self.children(moov)? {
            match &s.kind {
                b"mvhd" => self.zero_times(&s)?,
                b"trak" => match &self.handler(&s)? {
                    kind @ (b"vide" | b"soun") => {
                        self.tracks += 1;
                        self.video = kind == b"vide";
                        self.trak(&s)?;
                    }
                    _ => self.blank(&s),
                },
                b"iods" => {}
                b"udta" | b"meta" | b"uuid" | b"free" | b"skip" => self.blank(&s),
                _ => return Err(REFUSED),
            }
        }
        Ok(())
    }

    /// A track's handler type (trak/mdia/hdlr).
    fn handler(&self, trak: &Span) -> Result<[u8; 4], Refused> {
        let mdia = self
            .children(trak)?
            .into_iter()
            .find(|s| &s.kind == b"mdia")
            .ok_or(REFUSED)?;
        let hdlr = self
            .children(&mdia)?
            .into_iter()
            .find(|s| &s.kind == b"hdlr")
            .ok_or(REFUSED)?;
        self.src
            .get(hdlr.payload + 8..hdlr.payload + 12)
            .filter(|_| hdlr.payload + 12 <= hdlr.end)
            .and_then(|t| t.try_into().ok())
            .ok_or(REFUSED)
    }

    fn trak(&mut self, trak: &Span) -> Result<(), Refused> {
        for s in self.children(trak)? {
            match &s.kind {
                b"tkhd" => self.zero_times(&s)?,
                b"mdia" => self.mdia(&s)?,
                // Edit list, track references, Apple's track aperture.
                b"edts" | b"tref" | b"tapt" => {}
                b"udta" | b"meta" | b"uuid" | b"free" | b"skip" => self.blank(&s),
                _ => return Err(REFUSED),
            }
        }
        Ok(())
    }

    fn mdia(&mut self, mdia: &Span) -> Result<(), Refused> {
        for s in self.children(mdia)? {
            match &s.kind {
                b"mdhd" => self.zero_times(&s)?,
                b"hdlr" => self.zero_handler_name(&s)?,
                b"minf" => self.minf(&s)?,
                b"elng" => {}
                b"udta" | b"meta" | b"uuid" | b"free" | b"skip" => self.blank(&s),
                _ => return Err(REFUSED),
            }
        }
        Ok(())
    }

    fn minf(&mut self, minf: &Span) -> Result<(), Refused> {
        let mut stbl = false;
        for s in self.children(minf)? {
            match &s.kind {
                b"vmhd" | b"smhd" => {}
                b"hdlr" => self.zero_handler_name(&s)?,
                b"dinf" => self.dinf(&s)?,
                b"stbl" if !stbl => {
                    stbl = true;
                    self.stbl(&s)?;
                }
                b"udta" | b"free" | b"skip" => self.blank(&s),
                _ => return Err(REFUSED),
            }
        }
        if stbl { Ok(()) } else { Err(REFUSED) }
    }

    /// Data references: each entry must say "in this file" (flag 1); what
    /// follows the flags (a URL or an alias, which may name a path) is
    /// zeroed.
    fn dinf(&mut self, dinf: &Span) -> Result<(), Refused> {
        for s in self.children(dinf)? {
            if &s.kind != b"dref" {
                return Err(REFUSED);
            }
            // Version and flags (4), entry count (4), then the entries.
            for entry in spans(self.src, s.payload + 8, s.end).ok_or(REFUSED)? {
                let flags = self
                    .src
                    .get(entry.payload..entry.payload + 4)
                    .ok_or(REFUSED)?;
                if !matches!(&entry.kind, b"url " | b"alis") || flags[3] & 1 == 0 {
                    return Err(REFUSED);
                }
                self.out[entry.payload + 4..entry.end].fill(0);
            }
        }
        Ok(())
    }

    fn stbl(&mut self, stbl: &Span) -> Result<(), Refused> {
        let mut sizes = None;
        let mut chunks = None;
        let mut offsets = None;
        for s in self.children(stbl)? {
            match &s.kind {
                b"stsd" if self.video => self.zero_compressor_names(&s)?,
                b"stsd" | b"stts" | b"ctts" | b"cslg" | b"stss" | b"stps" | b"sdtp" | b"sbgp"
                | b"sgpd" | b"subs" | b"padb" => {}
                b"stsz" if sizes.is_none() => sizes = Some(s),
                b"stsc" if chunks.is_none() => chunks = Some(s),
                b"stco" | b"co64" if offsets.is_none() => offsets = Some(s),
                b"free" | b"skip" => self.blank(&s),
                _ => return Err(REFUSED),
            }
        }
        let (Some(sizes), Some(chunks), Some(offsets)) = (sizes, chunks, offsets) else {
            return Err(REFUSED);
        };
        let ranges = sample_ranges(self.src, &sizes, &chunks, &offsets).ok_or(REFUSED)?;
        self.samples.extend(ranges);
        Ok(())
    }
}

/// The byte ranges of a track's chunks of samples, from its sample sizes
/// (`stsz`), sample-to-chunk table (`stsc`) and chunk offsets (`stco` or
/// `co64`); `None` if the tables do not add up.
fn sample_ranges(b: &[u8], stsz: &Span, stsc: &Span, stco: &Span) -> Option<Vec<(usize, usize)>> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let u64_at = |at: usize| -> Option<u64> {
        Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    // stsz: version and flags, one size for all (or 0), count, sizes.
    let fixed = u32_at(stsz.payload + 4)? as u64;
    let samples = u32_at(stsz.payload + 8)? as usize;
    if fixed == 0 && stsz.payload + 12 + 4 * samples > stsz.end {
        return None;
    }
    let size = |n: usize| -> Option<u64> {
        if fixed != 0 {
            Some(fixed)
        } else {
            u32_at(stsz.payload + 12 + 4 * n).map(u64::from)
        }
    };
    // stco/co64: version and flags, count, offsets.
    let wide = &stco.kind == b"co64";
    let count = u32_at(stco.payload + 4)? as usize;
    let width = if wide { 8 } else { 4 };
    if stco.payload + 8 + width * count > stco.end {
        return None;
    }
    let offset = |n: usize| -> Option<u64> {
        let at = stco.payload + 8 + width * n;
        if wide {
            u64_at(at)
        } else {
            u32_at(at).map(u64::from)
        }
    };
    // stsc: version and flags, count, (first chunk, samples per chunk,
    // description index), first chunks rising from 1.
    let runs = u32_at(stsc.payload + 4)? as usize;
    if stsc.payload + 8 + 12 * runs > stsc.end {
        return None;
    }
    let mut out = Vec::new();
    let mut sample = 0usize;
    for run in 0..runs {
        let at = stsc.payload + 8 + 12 * run;
        let first = u32_at(at)? as usize;
        let per_chunk = u32_at(at + 4)? as usize;
        let next = if run + 1 < runs {
            u32_at(at + 12)? as usize
        } else {
            count + 1
        };
        if first == 0 || next <= first || next > count + 1 {
            return None;
        }
        for chunk in first..next {
            let start = offset(chunk - 1)?;
            let mut len = 0u64;
            for _ in 0..per_chunk {
                if sample == samples {
                    break;
                }
                len = len.checked_add(size(sample)?)?;
                sample += 1;
            }
            let start = usize::try_from(start).ok()?;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            if end > start {
                out.push((start, end));
            }
        }
    }
    (sample == samples).then_some(out)
}

/// `b` cleaned; see the module's comment.
pub fn strip(b: &[u8]) -> Result<Vec<u8>, Refused> {
    let mut walk = Walk {
        src: b,
        out: b.to_vec(),
        samples: Vec::new(),
        tracks: 0,
        video: false,
    };
    walk.top()?;
    Ok(walk.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(payload);
        v
    }

    fn full(kind: &[u8; 4], version: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        bx(kind, &[&[version, 0, 0, flags][..], payload].concat())
    }

    fn be(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    const T: u32 = 0xE0A1_B2C3;

    /// A track of one chunk at `offset` holding samples of `sizes`.
    fn trak(handler: &[u8; 4], offset: u32, sizes: &[u32]) -> Vec<u8> {
        let mut name = [0u8; 32];
        name[..17].copy_from_slice(b"\x10GoPro AVC encode");
        let entry = bx(
            b"avc1",
            &[
                &[0u8; 6][..],
                &[0, 1],
                &[0; 16],
                &be(&[0x00A0_0078, 0x0048_0000, 0x0048_0000, 0]),
                &[0, 1],
                &name,
                &[0, 0x18, 0xFF, 0xFF],
            ]
            .concat(),
        );
        let stbl = bx(
            b"stbl",
            &[
                full(b"stsd", 0, 0, &[be(&[1]), entry].concat()),
                full(b"stts", 0, 0, &be(&[0])),
                full(b"stsc", 0, 0, &be(&[1, 1, sizes.len() as u32, 1])),
                full(
                    b"stsz",
                    0,
                    0,
                    &be(&[&[0, sizes.len() as u32][..], sizes].concat()),
                ),
                full(b"stco", 0, 0, &be(&[1, offset])),
            ]
            .concat(),
        );
        let dinf = bx(
            b"dinf",
            &full(
                b"dref",
                0,
                0,
                &[be(&[1]), full(b"url ", 0, 1, b"")].concat(),
            ),
        );
        let hdlr = full(
            b"hdlr",
            0,
            0,
            &[&[0; 4][..], handler, &[0; 12], b"Phone of A.\0"].concat(),
        );
        let mdhd = full(
            b"mdhd",
            1,
            0,
            &[be(&[0, T, 0, T, 600, 0, 60]), vec![0; 4]].concat(),
        );
        let minf = bx(
            b"minf",
            &[full(b"vmhd", 0, 1, &[0; 8]), dinf, stbl].concat(),
        );
        let mdia = bx(b"mdia", &[mdhd, hdlr, minf].concat());
        let tkhd = full(
            b"tkhd",
            0,
            3,
            &[be(&[T, T, 1, 0, 60]), vec![0; 60]].concat(),
        );
        bx(b"trak", &[tkhd, mdia].concat())
    }

    fn movie(moov_extra: &[u8]) -> Vec<u8> {
        let ftyp = bx(b"ftyp", b"isom\0\0\x02\0isomiso2mp41");
        let at = (ftyp.len() + 8) as u32;
        let mdat = bx(b"mdat", b"\xAA\xAA\xAA\xBB\xBBHIDDEN+43.2567+076.9286/");
        let moov = bx(
            b"moov",
            &[
                full(b"mvhd", 0, 0, &[be(&[T, T, 600, 60]), vec![0; 80]].concat()),
                trak(b"vide", at, &[3, 2]),
                trak(b"meta", at + 11, &[18]),
                moov_extra.to_vec(),
            ]
            .concat(),
        );
        [ftyp, mdat, moov].concat()
    }

    #[test]
    fn times_tracks_metadata_and_unused_bytes_go() {
        let udta = bx(b"udta", &bx(b"\xA9xyz", b"+43.2567+076.9286/"));
        let file = movie(&udta);
        let out = strip(&file).expect("walks");
        assert_eq!(out.len(), file.len());
        let has = |n: &[u8]| out.windows(n.len()).any(|w| w == n);
        assert!(has(b"\xAA\xAA\xAA\xBB\xBB"), "video samples kept");
        for gone in [
            &b"HIDDEN"[..],
            b"+43.2567",
            b"udta",
            b"meta",
            b"Phone of A.",
            b"GoPro",
            &T.to_be_bytes(),
        ] {
            assert!(!has(gone), "{:?}", String::from_utf8_lossy(gone));
        }
        assert!(has(b"vide") && has(b"mvhd") && has(b"stco"));
    }

    #[test]
    fn fragments_and_foreign_boxes_are_refused() {
        let file = movie(&bx(b"mvex", &full(b"trex", 0, 0, &[0; 20])));
        assert_eq!(strip(&file), Err(REFUSED));
        let file = movie(&[]);
        assert!(strip(&file).is_ok());
        assert_eq!(
            strip(&[file.as_slice(), &bx(b"moof", &[0; 8])].concat()),
            Err(REFUSED)
        );
        assert_eq!(strip(&file[..file.len() - 1]), Err(REFUSED));
    }
}
