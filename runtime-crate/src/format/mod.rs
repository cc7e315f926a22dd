//! The encoderfile container format: what is appended to the base binary.
//!
//! `[ base binary ][ manifest ][ artifacts... ][ footer: 32 bytes ]`
//!
//! Only the footer is read so far; the protobuf manifest reader comes later.

pub mod footer;

pub use footer::{Footer, FooterError, ManifestRegion, FOOTER_LEN, FOOTER_LEN_U64};
