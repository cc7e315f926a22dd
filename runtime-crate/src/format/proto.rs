//! Rust types of the protobuf schema in `proto/encoderfile/*.proto`.
//!
//! The code under `generated/` is produced by prost-build and committed, so
//! that building the runtime never needs `protoc` (nor a .proto compiler built
//! for every target). Regenerate it with `cargo run -p protogen`; `cargo run
//! -p protogen -- --check` (also a test of that crate) fails if it is stale.
//! Do not edit the generated files by hand.

/// Package `encoderfile.metadata`: the model types.
#[allow(clippy::all, missing_docs)]
pub mod metadata {
    include!("generated/encoderfile.metadata.rs");
}

/// Package `encoderfile.manifest`: the manifest, its artifact entries and the
/// transform artifact's message.
#[allow(clippy::all, missing_docs)]
pub mod manifest {
    include!("generated/encoderfile.manifest.rs");
}
