//! Command-line interface.

use clap::{Parser, Subcommand};

/// `--version` output after the program name: `<version> <target triple>`.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " ",
    env!("ENCODERFILE_RUNTIME_TARGET")
);

const LONG_ABOUT: &str = "\
Encoderfile base binary (runtime).

This executable is the prebuilt runtime of an encoderfile. On its own it carries
no model. Pack a model onto it with:

    encoderfile build -f encoderfile.yml --base-binary-path <this file>

The result is a single executable: this binary followed by a protobuf manifest,
the model files and a 32-byte footer. At run time it reads its own executable to
find them, and validates all of it (footer, manifest, artifact bounds and sha256
digests) before use.

Run without a command, it prints a one-line summary of the attached model;
`inspect` prints the whole manifest as JSON. Serving and inference come in later
versions.

Exit codes: 0 success, 2 usage error, 3 no model attached (bare base binary),
4 invalid encoderfile payload, 5 I/O error reading its own executable.";

#[derive(Debug, Parser)]
#[command(
    name = "encoderfile-runtime",
    bin_name = "encoderfile-runtime",
    version = VERSION,
    about = "Encoderfile base binary: the runtime a model is packed onto with `encoderfile build`",
    long_about = LONG_ABOUT
)]
pub struct Cli {
    /// With no command, print a one-line summary of the attached model.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Verify the attached model and print its manifest as JSON.
    ///
    /// Every artifact's sha256 is verified before anything is printed. The
    /// output is one JSON object: footer fields (format_version,
    /// metadata_offset, metadata_length, flags), model_type, name, version and
    /// artifacts (offset relative to the manifest, length, absolute_offset,
    /// sha256 as hex, verified).
    Inspect,
}
