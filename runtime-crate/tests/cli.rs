//! End-to-end tests of the base binary: run it bare, and run copies of it with
//! footers appended, checking stdout, stderr and exit codes.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_encoderfile-runtime");

/// A temporary directory removed on drop (std only, no tempfile crate).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "encoderfile-runtime-test-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            nanos
        ));
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn footer(version: u32, offset: u64, length: u64, flags: u32) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(b"ENCFILE\0");
    b[8..12].copy_from_slice(&version.to_le_bytes());
    b[12..20].copy_from_slice(&offset.to_le_bytes());
    b[20..28].copy_from_slice(&length.to_le_bytes());
    b[28..32].copy_from_slice(&flags.to_le_bytes());
    b
}

/// Copies the base binary into `dir` and appends `tail` to the copy. Returns
/// the copy's path and the base binary's size.
fn packed_copy(dir: &TempDir, tail: &[u8]) -> (PathBuf, u64) {
    let path = dir.0.join("model.encoderfile");
    let base_len = fs::copy(BIN, &path).unwrap();
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(tail).unwrap();
    f.sync_all().unwrap();
    drop(f);
    (path, base_len)
}

/// Runs `path` with `args`, retrying on ETXTBSY: another test thread forking
/// while this one held the copy open for writing can briefly keep it busy.
fn run(path: &Path, args: &[&str]) -> Output {
    let mut attempts = 0;
    loop {
        match Command::new(path).args(args).output() {
            Ok(out) => return out,
            Err(e) if e.kind() == ErrorKind::ExecutableFileBusy && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot run {}: {e}", path.display()),
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_prints_name_version_and_target() {
    let out = run(Path::new(BIN), &["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    let stdout = text(&out.stdout);
    let prefix = format!("encoderfile-runtime {} ", env!("CARGO_PKG_VERSION"));
    let line = stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no trailing newline in {stdout:?}"));
    let triple = line
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{stdout:?} does not start with {prefix:?}"));
    assert!(
        !triple.contains(char::is_whitespace) && triple.split('-').count() >= 3,
        "not a target triple: {triple:?}"
    );
    // Tests are compiled for the same target as the binary under test.
    if cfg!(all(
        target_arch = "x86_64",
        target_os = "linux",
        target_env = "gnu"
    )) {
        assert_eq!(triple, "x86_64-unknown-linux-gnu");
    }
}

#[test]
fn help_explains_the_base_binary() {
    let out = run(Path::new(BIN), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("base binary"), "{stdout}");
    assert!(
        stdout.contains("encoderfile build -f encoderfile.yml"),
        "{stdout}"
    );
}

#[test]
fn usage_error_exits_2() {
    let out = run(Path::new(BIN), &["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--no-such-flag"));
}

#[test]
fn bare_binary_exits_3_with_hint() {
    let out = run(Path::new(BIN), &[]);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("error: this is an encoderfile base binary with no model attached ("),
        "{stderr}"
    );
    assert!(lines[0].contains("encoderfile-runtime"), "{stderr}");
    assert!(
        lines[1].starts_with(
            "pack a model onto it with: encoderfile build -f encoderfile.yml --base-binary-path "
        ),
        "{stderr}"
    );
}

#[test]
fn valid_footer_prints_summary() {
    let dir = TempDir::new();
    let manifest = b"\x08\x04\x12\x0afake-model";
    let artifact = [0x5Au8; 100];
    // The manifest starts right after the base binary, whose size is only
    // known after copying: build the tail in two steps.
    let base_len = fs::metadata(BIN).unwrap().len();
    let mut tail = manifest.to_vec();
    tail.extend_from_slice(&artifact);
    tail.extend_from_slice(&footer(1, base_len, manifest.len() as u64, 1));
    let (path, copied) = packed_copy(&dir, &tail);
    assert_eq!(copied, base_len);

    let out = run(&path, &[]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout {stdout} stderr {stderr}"
    );
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("format version 1"), "{stdout}");
    assert!(
        stdout.contains(&format!("manifest at offset {base_len}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("length {} bytes", manifest.len())),
        "{stdout}"
    );

    // --version is unaffected by the payload.
    let out = run(&path, &["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("encoderfile-runtime 0.1.0 "));
}

/// Appends `manifest` and the given footer to a copy and runs it.
fn run_with_footer(version: u32, offset: Option<u64>, length: u64, flags: u32) -> Output {
    let dir = TempDir::new();
    let base_len = fs::metadata(BIN).unwrap().len();
    let mut tail = vec![0x42u8; 16];
    tail.extend_from_slice(&footer(version, offset.unwrap_or(base_len), length, flags));
    let (path, _) = packed_copy(&dir, &tail);
    run(&path, &[])
}

fn assert_invalid(out: &Output, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: invalid encoderfile footer in "),
        "{stderr}"
    );
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr}");
}

#[test]
fn version_2_footer_exits_4() {
    let out = run_with_footer(2, None, 16, 1);
    assert_invalid(&out, "unsupported format version 2");
}

#[test]
fn missing_protobuf_flag_exits_4() {
    let out = run_with_footer(1, None, 16, 0);
    assert_invalid(&out, "bit 0 (protobuf manifest)");
}

#[test]
fn offset_past_end_exits_4() {
    let out = run_with_footer(1, Some(1 << 40), 16, 1);
    assert_invalid(&out, "past the end");
}

#[test]
fn length_past_end_exits_4() {
    let out = run_with_footer(1, None, 17, 1);
    assert_invalid(&out, "past the end");
}

#[test]
fn offset_length_overflow_exits_4() {
    let out = run_with_footer(1, Some(u64::MAX - 1), 16, 1);
    assert_invalid(&out, "overflows");
}

#[test]
fn empty_manifest_exits_4() {
    let out = run_with_footer(1, None, 0, 1);
    assert_invalid(&out, "length 0");
}
