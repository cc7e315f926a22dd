//! Human and JSON views of a validated container.
//!
//! JSON keys are written in a fixed, documented order; values that come from
//! the file (name, version) are escaped by serde_json.

use serde_json::Value;

use crate::format::{hex, Container};

/// Appends `"key":<json>` members to an object being written.
struct Object {
    out: String,
    empty: bool,
}

impl Object {
    fn new() -> Object {
        Object {
            out: String::from("{"),
            empty: true,
        }
    }

    fn raw(mut self, key: &str, json: &str) -> Object {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        self.out.push_str(&Value::from(key).to_string());
        self.out.push(':');
        self.out.push_str(json);
        self
    }

    fn value(self, key: &str, value: Value) -> Object {
        let json = value.to_string();
        self.raw(key, &json)
    }

    fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

/// The manifest as one line of JSON:
///
/// ```text
/// {"format_version":1,"metadata_offset":N,"metadata_length":N,"flags":1,
///  "model_type":"EMBEDDING","name":"...","version":"...",
///  "artifacts":{"weights":{"offset":N,"length":N,"absolute_offset":N,
///                          "sha256":"<hex>","verified":true},...}}
/// ```
///
/// Artifacts appear in field order (weights, transform, model_config,
/// tokenizer, image_preprocessor); absent ones are omitted. `offset` is
/// relative to the manifest start, `absolute_offset` to the file start.
pub fn to_json(container: &Container) -> String {
    let mut artifacts = Object::new();
    for a in &container.artifacts {
        let entry = Object::new()
            .value("offset", a.offset.into())
            .value("length", a.length.into())
            .value("absolute_offset", a.absolute_offset.into())
            .value("sha256", hex(&a.sha256).into())
            // A Container only exists once every digest has been checked.
            .value("verified", true.into())
            .finish();
        artifacts = artifacts.raw(a.kind.as_str(), &entry);
    }
    let footer = &container.footer;
    Object::new()
        .value("format_version", footer.format_version.into())
        .value("metadata_offset", footer.metadata_offset.into())
        .value("metadata_length", footer.metadata_length.into())
        .value("flags", footer.flags.into())
        .value("model_type", container.model_type.as_str_name().into())
        .value("name", container.name.as_str().into())
        .value("version", container.version.as_str().into())
        .raw("artifacts", &artifacts.finish())
        .finish()
}

/// The one-line summary printed when no command is given.
pub fn summary(container: &Container) -> String {
    let n = container.artifacts.len();
    let footer = &container.footer;
    format!(
        "encoderfile format version {}: {} model {} version {}, {n} artifact{} verified; \
         manifest at offset {}, length {} bytes. Run with `inspect` for details.",
        footer.format_version,
        container.model_type.as_str_name(),
        Value::from(container.name.as_str()),
        Value::from(container.version.as_str()),
        if n == 1 { "" } else { "s" },
        footer.metadata_offset,
        footer.metadata_length,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::pack::pack;
    use crate::format::proto::metadata::ModelType;
    use crate::format::ArtifactKind;
    use std::io::Cursor;

    fn container(name: &str, artifacts: &[(ArtifactKind, &[u8])]) -> Container {
        let packed = pack(b"base", ModelType::Embedding, name, "0.1", artifacts);
        Container::read(&mut Cursor::new(packed.bytes)).unwrap()
    }

    #[test]
    fn json_shape_and_order() {
        let c = container(
            "m",
            &[
                (ArtifactKind::Tokenizer, b"t".as_slice()),
                (ArtifactKind::Weights, b"w".as_slice()),
            ],
        );
        let json = to_json(&c);
        let m = c.footer.metadata_length;
        let expected = format!(
            "{{\"format_version\":1,\"metadata_offset\":4,\"metadata_length\":{m},\"flags\":1,\
             \"model_type\":\"EMBEDDING\",\"name\":\"m\",\"version\":\"0.1\",\"artifacts\":{{\
             \"weights\":{{\"offset\":{m},\"length\":1,\"absolute_offset\":{},\"sha256\":\"{}\",\
             \"verified\":true}},\"tokenizer\":{{\"offset\":{},\"length\":1,\"absolute_offset\":{},\
             \"sha256\":\"{}\",\"verified\":true}}}}}}",
            m + 4,
            hex(&c.artifacts[0].sha256),
            m + 1,
            m + 5,
            hex(&c.artifacts[1].sha256),
        );
        assert_eq!(json, expected);
        assert_eq!(
            hex(&c.artifacts[0].sha256),
            // sha256("w")
            "50e721e49c013f00c62cf59f2163542a9d8df02464efeb615d31051b0fddc326"
        );
    }

    #[test]
    fn strings_are_escaped() {
        let c = container("q\"uo\\te\n\u{1}é", &[]);
        let json = to_json(&c);
        assert!(json.contains(r#""name":"q\"uo\\te\n\u0001é""#), "{json}");
        assert!(json.ends_with(r#""artifacts":{}}"#), "{json}");
        let line = summary(&c);
        assert!(!line.contains('\n'), "{line}");
        assert!(line.contains(r#"model "q\"uo\\te\n\u0001é" version "0.1", 0 artifacts"#));
    }
}
