//! The attacks of the outside security review (issue 19), each reproduced
//! against the real services: every test here succeeded as an attack
//! before its fix and fails to now.

pub mod agent;
mod formulas;
mod hashing;
mod keys;
mod lower;
mod second_factor;
mod templates;
