//! protogen: regenerates the Rust (prost) code of the encoderfile protobuf
//! schema and commits nothing by itself.
//!
//! The runtime crate is cross-built for many targets, so its build must not
//! need `protoc` or compile a protobuf compiler per target. Instead the
//! generated code is committed under
//! `runtime-crate/src/format/generated/` and this tool rewrites it from
//! `proto/encoderfile/*.proto`, using `protox` (a pure-Rust .proto compiler)
//! and `prost-build`.
//!
//! ```text
//! cargo run -p protogen              # rewrite the generated files
//! cargo run -p protogen -- --check   # exit 1 if they are stale
//! ```

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The .proto files compiled, relative to the `proto/` include directory.
const PROTO_FILES: [&str; 2] = ["encoderfile/manifest.proto", "encoderfile/metadata.proto"];

/// The files prost-build writes (one per protobuf package), which are the
/// committed files.
const GENERATED_FILES: [&str; 2] = ["encoderfile.manifest.rs", "encoderfile.metadata.rs"];

/// The repository root: this crate lives in `<root>/tools/protogen`.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

fn proto_dir(root: &Path) -> PathBuf {
    root.join("proto")
}

fn generated_dir(root: &Path) -> PathBuf {
    root.join("runtime-crate")
        .join("src")
        .join("format")
        .join("generated")
}

#[derive(Debug)]
enum Error {
    Protox(String),
    Io(String, io::Error),
    /// prost-build wrote a file set other than the expected one.
    UnexpectedOutput(Vec<String>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Protox(msg) => write!(f, "cannot compile the .proto files: {msg}"),
            Error::Io(what, err) => write!(f, "{what}: {err}"),
            Error::UnexpectedOutput(names) => write!(
                f,
                "prost-build wrote {names:?}, expected exactly {GENERATED_FILES:?}; update \
                 GENERATED_FILES and the runtime's format/proto.rs"
            ),
        }
    }
}

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, Error> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "protogen-{}-{nanos}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        fs::create_dir_all(&dir)
            .map_err(|e| Error::Io(format!("cannot create {}", dir.display()), e))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Compiles the schema and returns the generated files as (name, contents),
/// in `GENERATED_FILES` order.
fn generate(root: &Path) -> Result<Vec<(String, String)>, Error> {
    let include = proto_dir(root);
    let fds = protox::compile(PROTO_FILES, [&include]).map_err(|e| Error::Protox(e.to_string()))?;

    let scratch = Scratch::new()?;
    prost_build::Config::new()
        .out_dir(&scratch.0)
        .compile_fds(fds)
        .map_err(|e| Error::Io(String::from("prost-build failed"), e))?;

    let mut written: Vec<String> = fs::read_dir(&scratch.0)
        .map_err(|e| Error::Io(format!("cannot list {}", scratch.0.display()), e))?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    if written != GENERATED_FILES {
        return Err(Error::UnexpectedOutput(written));
    }
    GENERATED_FILES
        .iter()
        .map(|name| {
            let path = scratch.0.join(name);
            fs::read_to_string(&path)
                .map(|text| (String::from(*name), text))
                .map_err(|e| Error::Io(format!("cannot read {}", path.display()), e))
        })
        .collect()
}

/// The committed files that differ from (or are missing next to) `fresh`.
fn stale_files(dir: &Path, fresh: &[(String, String)]) -> Vec<String> {
    fresh
        .iter()
        .filter(|(name, text)| fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text))
        .map(|(name, _)| name.clone())
        .collect()
}

/// `--check`: Ok(true) if the committed files are up to date.
fn check(root: &Path) -> Result<bool, Error> {
    let fresh = generate(root)?;
    let dir = generated_dir(root);
    let stale = stale_files(&dir, &fresh);
    for name in &stale {
        eprintln!("stale: runtime-crate/src/format/generated/{name}");
    }
    Ok(stale.is_empty())
}

/// Rewrites the committed files; returns how many changed.
fn write(root: &Path) -> Result<usize, Error> {
    let fresh = generate(root)?;
    let dir = generated_dir(root);
    fs::create_dir_all(&dir)
        .map_err(|e| Error::Io(format!("cannot create {}", dir.display()), e))?;
    let stale = stale_files(&dir, &fresh);
    for (name, text) in fresh.iter().filter(|(name, _)| stale.contains(name)) {
        let path = dir.join(name);
        fs::write(&path, text)
            .map_err(|e| Error::Io(format!("cannot write {}", path.display()), e))?;
        println!("wrote runtime-crate/src/format/generated/{name}");
    }
    Ok(stale.len())
}

const USAGE: &str = "usage: protogen [--check]\n\
    Regenerates runtime-crate/src/format/generated/*.rs from proto/encoderfile/*.proto.\n\
    --check  only compare; exit 1 if the committed files are stale";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check_only = match args.as_slice() {
        [] => false,
        [flag] if flag == "--check" => true,
        [flag] if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let root = repo_root();
    if check_only {
        match check(&root) {
            Ok(true) => {
                println!("generated protobuf code is up to date");
                ExitCode::SUCCESS
            }
            Ok(false) => {
                eprintln!("error: generated protobuf code is stale; run `cargo run -p protogen`");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        }
    } else {
        match write(&root) {
            Ok(0) => {
                println!("generated protobuf code was already up to date");
                ExitCode::SUCCESS
            }
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed generated code matches the .proto schema. If this fails,
    /// run `cargo run -p protogen` and commit the result.
    #[test]
    fn committed_code_is_up_to_date() {
        let root = repo_root();
        let fresh = generate(&root).expect("generation failed");
        let stale = stale_files(&generated_dir(&root), &fresh);
        assert!(
            stale.is_empty(),
            "stale generated files {stale:?}: run `cargo run -p protogen`"
        );
    }

    #[test]
    fn generated_code_covers_the_schema() {
        let fresh = generate(&repo_root()).expect("generation failed");
        let manifest = &fresh[0].1;
        let metadata = &fresh[1].1;
        for needle in [
            "pub struct EncoderfileManifest",
            "pub struct Artifact",
            "pub struct Transform",
            "pub enum TransformType",
            "super::metadata::ModelType",
        ] {
            assert!(manifest.contains(needle), "{needle} missing");
        }
        assert!(metadata.contains("pub enum ModelType"));
    }

    #[test]
    fn stale_detection() {
        let scratch = Scratch::new().unwrap();
        let fresh = vec![
            (String::from("a.rs"), String::from("fn a() {}\n")),
            (String::from("b.rs"), String::from("fn b() {}\n")),
        ];
        fs::write(scratch.0.join("a.rs"), "fn a() {}\n").unwrap();
        fs::write(scratch.0.join("b.rs"), "fn b() { }\n").unwrap();
        assert_eq!(stale_files(&scratch.0, &fresh), vec![String::from("b.rs")]);
        fs::remove_file(scratch.0.join("a.rs")).unwrap();
        assert_eq!(stale_files(&scratch.0, &fresh).len(), 2);
    }
}
