//! The shared container test vectors (`tests/vectors/` at the repository
//! root, described by its README) against the Rust reader: every valid vector
//! must read with exactly the facts in its JSON, every invalid one must fail
//! with exactly its `error_kind`. The Python reader runs the same vectors.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use encoderfile_runtime::format::{hex, ArtifactKind, Container, ErrorKind, ReadError};
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("vectors")
}

/// Every `<name>.bin` with its `<name>.json`, sorted by name.
fn vectors() -> Vec<(String, Vec<u8>, Value)> {
    let dir = vectors_dir();
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list the test vectors in {}: {e}", dir.display()));
    let mut names: Vec<String> = entries
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".bin").map(String::from))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let bin = fs::read(dir.join(format!("{name}.bin"))).unwrap();
            let json_path = dir.join(format!("{name}.json"));
            let text = fs::read_to_string(&json_path)
                .unwrap_or_else(|e| panic!("{name}.bin has no readable {name}.json: {e}"));
            let json: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", json_path.display()));
            (name, bin, json)
        })
        .collect()
}

fn u64_field(v: &Value, key: &str, ctx: &str) -> u64 {
    v.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{ctx}: no unsigned integer {key:?} in {v}"))
}

fn str_field<'a>(v: &'a Value, key: &str, ctx: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{ctx}: no string {key:?} in {v}"))
}

/// Checks a valid vector's facts; returns a description of the first mismatch.
fn check_valid(name: &str, bin: &[u8], json: &Value) -> Result<(), String> {
    let c = Container::read(&mut Cursor::new(bin)).map_err(|e| format!("rejected: {e}"))?;
    let mut diffs = Vec::new();
    let mut expect = |what: &str, got: String, want: String| {
        if got != want {
            diffs.push(format!("{what}: got {got}, expected {want}"));
        }
    };
    if let Some(len) = json.get("file_length").and_then(Value::as_u64) {
        expect("file_length", c.file_len.to_string(), len.to_string());
    }
    let footer = &json["footer"];
    expect(
        "format_version",
        c.footer.format_version.to_string(),
        u64_field(footer, "format_version", name).to_string(),
    );
    expect(
        "metadata_offset",
        c.footer.metadata_offset.to_string(),
        u64_field(footer, "metadata_offset", name).to_string(),
    );
    expect(
        "metadata_length",
        c.footer.metadata_length.to_string(),
        u64_field(footer, "metadata_length", name).to_string(),
    );
    expect(
        "flags",
        c.footer.flags.to_string(),
        u64_field(footer, "flags", name).to_string(),
    );
    let manifest = &json["manifest"];
    expect(
        "model_type",
        c.model_type.as_str_name().to_string(),
        str_field(manifest, "model_type", name).to_string(),
    );
    expect(
        "model_type_value",
        (c.model_type as i32).to_string(),
        u64_field(manifest, "model_type_value", name).to_string(),
    );
    expect(
        "name",
        c.name.clone(),
        str_field(manifest, "name", name).to_string(),
    );
    expect(
        "version",
        c.version.clone(),
        str_field(manifest, "version", name).to_string(),
    );

    let want = manifest["artifacts"]
        .as_object()
        .unwrap_or_else(|| panic!("{name}: manifest.artifacts is not an object"));
    let got_kinds: Vec<&str> = c.artifacts.iter().map(|a| a.kind.as_str()).collect();
    let want_kinds: Vec<&str> = ArtifactKind::ALL
        .iter()
        .map(|k| k.as_str())
        .filter(|k| want.contains_key(*k))
        .collect();
    expect(
        "artifacts",
        format!("{got_kinds:?}"),
        format!("{want_kinds:?}"),
    );
    for key in want.keys() {
        if ArtifactKind::from_name(key).is_none() {
            diffs.push(format!("unknown artifact kind {key:?} in the JSON"));
        }
    }
    for a in &c.artifacts {
        let Some(w) = want.get(a.kind.as_str()) else {
            continue;
        };
        let ctx = format!("{name}: {}", a.kind);
        let mut expect = |what: &str, got: String, want: String| {
            if got != want {
                diffs.push(format!("{} {what}: got {got}, expected {want}", a.kind));
            }
        };
        expect(
            "offset",
            a.offset.to_string(),
            u64_field(w, "offset", &ctx).to_string(),
        );
        expect(
            "length",
            a.length.to_string(),
            u64_field(w, "length", &ctx).to_string(),
        );
        expect(
            "absolute_offset",
            a.absolute_offset.to_string(),
            u64_field(w, "absolute_offset", &ctx).to_string(),
        );
        expect(
            "sha256",
            hex(&a.sha256),
            str_field(w, "sha256", &ctx).to_string(),
        );
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

/// Checks an invalid vector's error kind.
fn check_invalid(name: &str, bin: &[u8], json: &Value) -> Result<(), String> {
    let want_name = str_field(json, "error_kind", name);
    let want = ErrorKind::from_name(want_name)
        .ok_or_else(|| format!("the JSON names an unknown error kind {want_name:?}"))?;
    match Container::read(&mut Cursor::new(bin)) {
        Ok(_) => Err(format!("accepted, expected {want}")),
        Err(ReadError::Io { action, source }) => {
            Err(format!("I/O error ({action}: {source}), expected {want}"))
        }
        Err(ReadError::Format(e)) if e.kind() == want => Ok(()),
        Err(ReadError::Format(e)) => Err(format!("got {} ({e}), expected {want}", e.kind())),
    }
}

#[test]
fn shared_vectors() {
    let vectors = vectors();
    assert!(
        !vectors.is_empty(),
        "no test vectors (*.bin) in {}: they must exist, this test cannot pass without them",
        vectors_dir().display()
    );
    let mut failures = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    let mut kinds_seen = Vec::new();
    for (name, bin, json) in &vectors {
        let result = match json.get("valid").and_then(Value::as_bool) {
            Some(true) => {
                valid += 1;
                check_valid(name, bin, json)
            }
            Some(false) => {
                invalid += 1;
                if let Some(kind) = json.get("error_kind").and_then(Value::as_str) {
                    kinds_seen.push(kind.to_string());
                }
                check_invalid(name, bin, json)
            }
            None => Err(String::from("the JSON has no boolean \"valid\"")),
        };
        if let Err(msg) = result {
            failures.push(format!("{name}: {msg}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} vectors failed:\n{}",
        failures.len(),
        vectors.len(),
        failures.join("\n")
    );
    assert!(valid > 0, "no valid vectors");
    assert!(invalid > 0, "no invalid vectors");
    // Every kind of the contract has at least one vector.
    for kind in ErrorKind::ALL {
        assert!(
            kinds_seen.iter().any(|k| k == kind.as_str()),
            "no vector for error kind {kind}"
        );
    }
    println!("{valid} valid and {invalid} invalid vectors checked");
}

/// Every vector, cut or corrupted anywhere, still gives Ok or a kind: the
/// reader never panics and never reports an I/O error on in-memory data.
#[test]
fn vectors_survive_every_truncation() {
    for (name, bin, _) in vectors() {
        for len in 0..bin.len() {
            if let Err(ReadError::Io { source, .. }) =
                Container::read(&mut Cursor::new(&bin[..len]))
            {
                panic!("{name} cut to {len} bytes: I/O error {source}");
            }
        }
    }
}
