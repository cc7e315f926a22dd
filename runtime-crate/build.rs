//! Exports the compile target triple to the crate as
//! `ENCODERFILE_RUNTIME_TARGET`, so `--version` can say which target the base
//! binary was built for. Reads only cargo-provided environment variables.

fn main() {
    // Cargo always sets TARGET for build scripts; fall back rather than panic.
    let target = std::env::var("TARGET").unwrap_or_else(|_| String::from("unknown"));
    println!("cargo:rustc-env=ENCODERFILE_RUNTIME_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
