//! The attacks of the outside security review (issue 19), each reproduced
//! against the real services: every test here succeeded as an attack
//! before its fix and fails to now.

/// The console agent lives in the test support crate; its old name here.
pub mod agent {
    pub use nasvyazi_tests::agent::{ConsoleAgent as Agent, csrf_in, form_urlencoded, location};
}
mod formulas;
mod hashing;
mod keys;
mod lower;
mod second_factor;
mod templates;
