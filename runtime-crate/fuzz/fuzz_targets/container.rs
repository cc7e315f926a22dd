//! Fuzz target: any bytes, read as a whole encoderfile, give Ok or an error
//! with a kind (never a panic, never an I/O error on in-memory data), and an
//! accepted container satisfies the format's invariants.

#![no_main]

use std::io::Cursor;

use encoderfile_runtime::format::{Container, ReadError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Container::read(&mut Cursor::new(data)) {
        Err(ReadError::Format(e)) => {
            // Formatting must not panic either.
            let _ = (e.kind(), e.to_string());
        }
        Err(ReadError::Io { action, source }) => {
            panic!("I/O error on in-memory data: {action}: {source}")
        }
        Ok(c) => {
            let len = data.len() as u64;
            assert_eq!(c.file_len, len);
            let manifest_end = c.footer.metadata_offset + c.footer.metadata_length;
            assert!(c.footer.metadata_length > 0 && manifest_end <= len - 32);
            for (i, a) in c.artifacts.iter().enumerate() {
                let end = a.absolute_offset + a.length;
                assert!(a.absolute_offset >= manifest_end && end <= len - 32);
                for b in &c.artifacts[i + 1..] {
                    let b_end = b.absolute_offset + b.length;
                    assert!(a.absolute_offset.max(b.absolute_offset) >= end.min(b_end));
                }
            }
            let _ = encoderfile_runtime::inspect::to_json(&c);
        }
    }
});
