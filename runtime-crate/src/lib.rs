//! encoderfile-runtime: the base binary of an encoderfile, as a library.
//!
//! The binary (`src/main.rs`) only parses the command line and calls
//! [`app::run`]. The container format lives in [`format`], usable on its own
//! (the tests and the shared test vectors drive it directly).

pub mod app;
pub mod cli;
pub mod error;
pub mod format;
pub mod inspect;
pub mod payload;
