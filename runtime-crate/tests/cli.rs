//! End-to-end tests of the base binary: run it bare, and run copies of it with
//! footers (and whole payloads) appended, checking stdout, stderr and exit
//! codes.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use encoderfile_runtime::format::proto::manifest::{Artifact, EncoderfileManifest};
use prost::Message;
use serde_json::Value;
use sha2::{Digest, Sha256};

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

/// Asserts a footer-level rejection (exit 4) mentioning `needle`.
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

// ---------------------------------------------------------------------------
// Whole payloads: a small model packed with a manifest built with prost.

const WEIGHTS: &[u8] = b"\x08\x07fake onnx model bytes";
const MODEL_CONFIG: &[u8] = br#"{"model_type":"bert","num_labels":null,"id2label":null}"#;
const TOKENIZER: &[u8] =
    br#"{"tokenizer":{"version":"1.0"},"config":{"padding":null,"truncation":null}}"#;

/// The payload appended to the base binary, and its parts.
#[derive(Clone)]
struct Model {
    base_len: u64,
    manifest: EncoderfileManifest,
    /// Artifact bytes in storage order (weights, model_config, tokenizer).
    body: Vec<u8>,
}

impl Model {
    /// A valid payload for the base binary: weights, model_config and
    /// tokenizer right after the manifest, in field order.
    fn new() -> Model {
        let base_len = fs::metadata(BIN).unwrap().len();
        let entry = |offset: u64, data: &[u8]| {
            Some(Artifact {
                offset,
                length: data.len() as u64,
                sha256: Sha256::digest(data).to_vec(),
            })
        };
        let mut manifest = EncoderfileManifest {
            model_type: 4, // SENTENCE_EMBEDDING
            name: String::from("tiny-model"),
            version: String::from("0.3.1"),
            weights: entry(1, WEIGHTS),
            transform: None,
            model_config: entry(1, MODEL_CONFIG),
            tokenizer: entry(1, TOKENIZER),
            image_preprocessor: None,
        };
        // fixed64 offsets: the encoded size does not depend on their values.
        let m = manifest.encoded_len() as u64;
        let w = WEIGHTS.len() as u64;
        let c = MODEL_CONFIG.len() as u64;
        manifest.weights = entry(m, WEIGHTS);
        manifest.model_config = entry(m + w, MODEL_CONFIG);
        manifest.tokenizer = entry(m + w + c, TOKENIZER);
        assert_eq!(manifest.encoded_len() as u64, m);
        let body = [WEIGHTS, MODEL_CONFIG, TOKENIZER].concat();
        Model {
            base_len,
            manifest,
            body,
        }
    }

    fn manifest_len(&self) -> u64 {
        self.manifest.encoded_len() as u64
    }

    /// manifest + artifacts + a valid footer.
    fn tail(&self) -> Vec<u8> {
        let mut tail = self.manifest.encode_to_vec();
        tail.extend_from_slice(&self.body);
        tail.extend_from_slice(&footer(1, self.base_len, self.manifest_len(), 1));
        tail
    }
}

/// Packs `tail` onto a copy of the base binary and runs it with `args`.
fn run_packed(tail: &[u8], args: &[&str]) -> Output {
    let dir = TempDir::new();
    let (path, _) = packed_copy(&dir, tail);
    run(&path, args)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn inspect_prints_the_manifest_as_json() {
    let model = Model::new();
    let out = run_packed(&model.tail(), &["inspect"]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("{\"format_version\":1,\"metadata_offset\":"),
        "{stdout}"
    );
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let base = model.base_len;
    let m = model.manifest_len();
    let (w, c, t) = (
        WEIGHTS.len() as u64,
        MODEL_CONFIG.len() as u64,
        TOKENIZER.len() as u64,
    );
    let artifact = |offset: u64, length: u64, data: &[u8]| {
        serde_json::json!({
            "offset": offset,
            "length": length,
            "absolute_offset": base + offset,
            "sha256": hex(&Sha256::digest(data)),
            "verified": true,
        })
    };
    let expected = serde_json::json!({
        "format_version": 1,
        "metadata_offset": base,
        "metadata_length": m,
        "flags": 1,
        "model_type": "SENTENCE_EMBEDDING",
        "name": "tiny-model",
        "version": "0.3.1",
        "artifacts": {
            "weights": artifact(m, w, WEIGHTS),
            "model_config": artifact(m + w, c, MODEL_CONFIG),
            "tokenizer": artifact(m + w + c, t, TOKENIZER),
        },
    });
    assert_eq!(json, expected);
    // Artifacts are listed in storage (field) order.
    let w_at = stdout.find("\"weights\"").unwrap();
    let c_at = stdout.find("\"model_config\"").unwrap();
    let t_at = stdout.find("\"tokenizer\"").unwrap();
    assert!(w_at < c_at && c_at < t_at, "{stdout}");
}

#[test]
fn packed_model_prints_a_summary() {
    let model = Model::new();
    let out = run_packed(&model.tail(), &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    for needle in [
        "SENTENCE_EMBEDDING",
        "\"tiny-model\"",
        "\"0.3.1\"",
        "3 artifacts",
        "inspect",
    ] {
        assert!(stdout.contains(needle), "{needle:?} not in {stdout}");
    }
}

#[test]
fn inspect_on_bare_binary_exits_3() {
    let out = run(Path::new(BIN), &["inspect"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: this is an encoderfile base binary with no model attached"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
}

#[test]
fn inspect_takes_no_arguments() {
    let out = run(Path::new(BIN), &["inspect", "extra"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Asserts a rejection: exit 4, nothing on stdout, one `error:` line naming
/// the section and ending with the kind.
fn assert_rejected(out: &Output, section: &str, kind: &str, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let prefix = format!("error: invalid encoderfile {section} in ");
    assert!(stderr.starts_with(&prefix), "{stderr}");
    assert!(
        stderr.trim_end().ends_with(&format!("[{kind}]")),
        "expected kind {kind} in {stderr}"
    );
    assert!(stderr.contains(needle), "expected {needle:?} in {stderr}");
}

/// The payload's footer starts this many bytes into the tail.
fn footer_at(tail: &[u8]) -> usize {
    tail.len() - 32
}

#[test]
fn corrupt_footer() {
    let model = Model::new();
    let good = model.tail();
    let f = footer_at(&good);
    let patch = |at: usize, bytes: &[u8]| {
        let mut tail = good.clone();
        tail[f + at..f + at + bytes.len()].copy_from_slice(bytes);
        tail
    };
    let base = model.base_len;
    let m = model.manifest_len();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "version 2",
            patch(8, &2u32.to_le_bytes()),
            "unsupported_version",
            "unsupported format version 2",
        ),
        (
            "flags 0",
            patch(28, &0u32.to_le_bytes()),
            "missing_protobuf_flag",
            "bit 0 (protobuf manifest)",
        ),
        (
            "manifest offset past the end",
            patch(12, &(base + 1_000_000).to_le_bytes()),
            "manifest_out_of_bounds",
            "past the end",
        ),
        (
            "manifest length 0",
            patch(20, &0u64.to_le_bytes()),
            "manifest_out_of_bounds",
            "length 0",
        ),
        (
            "manifest length into the footer",
            patch(20, &(f as u64 + 1).to_le_bytes()),
            "manifest_out_of_bounds",
            "past the end",
        ),
        (
            "manifest offset + length overflows",
            patch(12, &(u64::MAX - m + 1).to_le_bytes()),
            "manifest_out_of_bounds",
            "overflows",
        ),
    ];
    for (what, tail, kind, needle) in cases {
        for args in [&["inspect"][..], &[][..]] {
            eprintln!("case: {what}, args {args:?}");
            let out = run_packed(&tail, args);
            assert_rejected(&out, "footer", kind, needle);
        }
    }
}

#[test]
fn no_payload_exits_3() {
    let good = Model::new().tail();
    let f = footer_at(&good);
    // Bad magic, and a file cut by one byte (the magic is no longer where the
    // footer would start).
    let mut bad_magic = good.clone();
    bad_magic[f] ^= 0x01;
    let cut = good[..good.len() - 1].to_vec();
    for tail in [bad_magic, cut] {
        let out = run_packed(&tail, &["inspect"]);
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty());
        assert!(text(&out.stderr)
            .starts_with("error: this is an encoderfile base binary with no model attached"));
    }
}

#[test]
fn corrupt_manifest() {
    let model = Model::new();
    // First manifest byte: the model_type tag 0x08 -> 0x00 (invalid tag 0).
    let mut tail = model.tail();
    tail[0] = 0x00;
    let out = run_packed(&tail, &["inspect"]);
    assert_rejected(
        &out,
        "manifest",
        "bad_manifest",
        "cannot decode the protobuf manifest",
    );

    // Unknown model type.
    let mut odd = model.clone();
    odd.manifest.model_type = 9;
    let out = run_packed(&odd.tail(), &["inspect"]);
    assert_rejected(&out, "manifest", "bad_manifest", "unknown model_type 9");

    // A 31-byte digest (the manifest shrinks by one byte; keep the footer
    // consistent by building the tail from the edited manifest).
    let mut short = model.clone();
    if let Some(t) = short.manifest.tokenizer.as_mut() {
        t.sha256.pop();
    }
    let out = run_packed(&short.tail(), &["inspect"]);
    assert_rejected(&out, "manifest", "bad_manifest", "31-byte sha256");

    // A flipped bit in the weights digest stored in the manifest.
    let mut tail = model.tail();
    let digest = Sha256::digest(WEIGHTS);
    let at = tail
        .windows(32)
        .position(|w| w == digest.as_slice())
        .unwrap();
    tail[at + 5] ^= 0x10;
    let out = run_packed(&tail, &["inspect"]);
    assert_rejected(
        &out,
        "artifact",
        "sha256_mismatch",
        "artifact weights has sha256",
    );
}

#[test]
fn corrupt_artifacts() {
    let model = Model::new();
    let m = model.manifest_len() as usize;

    // A flipped byte in the tokenizer's content.
    let mut tail = model.tail();
    let t = m + WEIGHTS.len() + MODEL_CONFIG.len() + 3;
    tail[t] ^= 0x01;
    let out = run_packed(&tail, &["inspect"]);
    assert_rejected(
        &out,
        "artifact",
        "sha256_mismatch",
        "artifact tokenizer has sha256",
    );
    // The summary path verifies too.
    let out = run_packed(&tail, &[]);
    assert_rejected(&out, "artifact", "sha256_mismatch", "tokenizer");

    // Artifact bytes removed from the middle (footer kept): the tokenizer now
    // runs into the footer.
    let mut tail = model.tail();
    tail.drain(m + 2..m + 12);
    let out = run_packed(&tail, &["inspect"]);
    assert_rejected(
        &out,
        "artifact",
        "artifact_out_of_bounds",
        "artifact tokenizer (bytes ",
    );

    let edit = |f: &dyn Fn(&mut EncoderfileManifest)| {
        let mut edited = model.clone();
        f(&mut edited.manifest);
        assert_eq!(edited.manifest_len(), model.manifest_len());
        edited.tail()
    };
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            edit(&|mf| mf.weights.as_mut().unwrap().offset = 1 << 40),
            "artifact_out_of_bounds",
            "runs past the start of the footer",
        ),
        (
            edit(&|mf| mf.weights.as_mut().unwrap().offset = 3),
            "artifact_out_of_bounds",
            "starts inside the",
        ),
        (
            edit(&|mf| mf.model_config.as_mut().unwrap().length = u64::MAX),
            "artifact_out_of_bounds",
            "overflows",
        ),
        (
            edit(&|mf| {
                let w = mf.weights.clone().unwrap();
                mf.tokenizer.as_mut().unwrap().offset = w.offset + 1;
            }),
            "artifact_overlap",
            "artifacts weights (bytes ",
        ),
    ];
    for (tail, kind, needle) in cases {
        let out = run_packed(&tail, &["inspect"]);
        assert_rejected(&out, "artifact", kind, needle);
    }
}

#[test]
fn truncated_payloads_never_crash() {
    // Cut the packed file at many points: every run ends with exit 3 (the
    // footer is gone from the end) or 4, with an error line, never a panic.
    let tail = Model::new().tail();
    let step = (tail.len() / 12).max(1);
    for keep in (0..tail.len()).step_by(step) {
        let out = run_packed(&tail[..keep], &["inspect"]);
        let code = out.status.code();
        let stderr = text(&out.stderr);
        assert!(
            code == Some(3) || code == Some(4),
            "cut at {keep}: {code:?} {stderr}"
        );
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
