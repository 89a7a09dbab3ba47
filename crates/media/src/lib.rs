//! The media library's domain: what an uploaded file is, decided by its
//! bytes alone, and its metadata removed without re-encoding
//! ([`content`]). The front stores and serves the result; the notifier
//! sends it. Must never: trust a file's name or declared type, or keep a
//! byte a walker has not understood.

pub mod content;
