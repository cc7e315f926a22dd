//! Command-line interface.

use clap::Parser;

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
find them.

Run without arguments, it reports the payload it finds appended to itself
(footer format version, manifest offset and length). Decoding the manifest and
running inference come in later versions.

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
// Subcommands (`inspect`, `serve`, `infer`) arrive in later issues as an
// `Option<Command>` field; with none given the default action runs.
pub struct Cli {}
