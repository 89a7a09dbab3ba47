//! PDF: parsed and written anew by `lopdf`, without its document
//! information, its XMP and the other places authoring tools leave names,
//! dates and originals. Must never pass through the uploaded bytes: the
//! file stored is always the one lopdf writes from the objects it read.
//!
//! Written anew, a PDF loses its earlier revisions (incremental saves
//! keep deleted text and old document information in the file), the
//! objects nothing refers to, comments and anything after `%%EOF`. The
//! trailer keeps only `/Root`: the document information dictionary
//! (`/Info`: author, creator, producer, dates) and the file identifiers
//! (`/ID`) go. In every dictionary, `/Metadata` (XMP streams, on the
//! catalogue, pages, images and fonts), `/PieceInfo` (an editor's private
//! copy of the document: Illustrator keeps the whole original there),
//! `/LastModified`, `/Thumb` (page thumbnails, possibly of the uncropped
//! original), `/AF` and `/EmbeddedFiles` (attachments) are removed;
//! comments and markup annotations lose their author (`/T`) and dates
//! (`/M`, `/CreationDate`) and file attachments their file (`/FS`).
//! JPEG images (`/DCTDecode`) go through the JPEG walker (`jpeg.rs`), so
//! their Exif goes too.
//!
//! Refused: what lopdf cannot read, encrypted PDFs (the metadata cannot be
//! reached without the password) and signed ones (a signature holds the
//! signer's certificate and name, and would not survive the rewrite).

use lopdf::{Dictionary, Document, LoadOptions, Object};

use super::Refused;

const UNREADABLE: Refused =
    Refused("the PDF could not be read; save or print it again as an ordinary PDF");
const ENCRYPTED: Refused = Refused(
    "the PDF is protected by a password, so its metadata cannot be removed; save it \
     again without protection",
);
const SIGNED: Refused = Refused(
    "the PDF is digitally signed: the signature names the signer and cannot be kept \
     once the metadata is removed; print it to a new PDF without the signature",
);

/// Keys removed from every dictionary.
const GONE: &[&[u8]] = &[
    b"Metadata",
    b"PieceInfo",
    b"LastModified",
    b"Thumb",
    b"AF",
    b"EmbeddedFiles",
];

/// Annotation types that carry an author and dates (markup annotations).
const MARKUP: &[&[u8]] = &[
    b"Text",
    b"FreeText",
    b"Line",
    b"Square",
    b"Circle",
    b"Polygon",
    b"PolyLine",
    b"Highlight",
    b"Underline",
    b"Squiggly",
    b"StrikeOut",
    b"Stamp",
    b"Caret",
    b"Ink",
    b"FileAttachment",
    b"Sound",
    b"Redact",
];

/// The largest a single stream may inflate to while loading.
const MAX_INFLATED: usize = 64 * 1024 * 1024;

/// The document written anew; see the module's comment.
pub fn strip(b: &[u8]) -> Result<Vec<u8>, Refused> {
    let options = LoadOptions {
        max_decompressed_size: Some(MAX_INFLATED),
        ..LoadOptions::default()
    };
    let mut doc = Document::load_mem_with_options(b, options).map_err(|_| UNREADABLE)?;
    if doc.was_encrypted() || doc.is_encrypted() {
        return Err(ENCRYPTED);
    }
    let root = doc
        .trailer
        .get(b"Root")
        .and_then(Object::as_reference)
        .map_err(|_| UNREADABLE)?;
    doc.trailer = Dictionary::new();
    doc.trailer.set("Root", Object::Reference(root));
    for object in doc.objects.values_mut() {
        clean(object)?;
    }
    doc.prune_objects();
    if doc.get_dictionary(root).is_err() || doc.get_pages().is_empty() {
        return Err(UNREADABLE);
    }
    // The comment after the header is copied from the upload otherwise.
    doc.binary_mark = vec![0xE2, 0xE3, 0xCF, 0xD3];
    let mut out = Vec::with_capacity(b.len());
    doc.save_to(&mut out).map_err(|_| UNREADABLE)?;
    Ok(out)
}

/// Cleans an object and everything inline in it.
fn clean(object: &mut Object) -> Result<(), Refused> {
    match object {
        Object::Dictionary(dict) => clean_dict(dict),
        Object::Stream(stream) => {
            clean_dict(&mut stream.dict)?;
            let dct = match stream.dict.get(b"Filter") {
                Ok(Object::Name(n)) => n == b"DCTDecode",
                Ok(Object::Array(a)) => {
                    a.len() == 1 && matches!(&a[0], Object::Name(n) if n == b"DCTDecode")
                }
                _ => false,
            };
            if dct && is(&stream.dict, b"Subtype", b"Image") {
                let stripped = super::jpeg::strip(&stream.content).map_err(|_| UNREADABLE)?;
                stream.set_content(stripped);
            }
            Ok(())
        }
        Object::Array(items) => items.iter_mut().try_for_each(clean),
        _ => Ok(()),
    }
}

/// Whether `dict[key]` is the name `value`.
fn is(dict: &Dictionary, key: &[u8], value: &[u8]) -> bool {
    matches!(dict.get(key), Ok(Object::Name(n)) if n == value)
}

fn clean_dict(dict: &mut Dictionary) -> Result<(), Refused> {
    if is(dict, b"Type", b"Sig") && dict.has(b"Contents") {
        return Err(SIGNED);
    }
    for key in GONE {
        dict.remove(key);
    }
    let markup = dict.has(b"Rect")
        && matches!(dict.get(b"Subtype"), Ok(Object::Name(n)) if MARKUP.contains(&n.as_slice()));
    if markup {
        for key in [&b"T"[..], b"M", b"CreationDate", b"FS"] {
            dict.remove(key);
        }
    }
    for (_, value) in dict.iter_mut() {
        clean(value)?;
    }
    Ok(())
}
