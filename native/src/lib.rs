//! `wafsiem_native`: the optional native fast path of the wafsiem parser.
//!
//! `Transformer(hash_key, sensitive_headers, keep_original).build(raw)` gives
//! `(event_id, timestamp_ms, source)` where `source` is byte for byte
//! `orjson.dumps(doc)` of `ingest.parser.transform.build_document(orjson.loads(raw), raw,
//! options)`, or None ("decline": the Python paths decide) whenever that is not certain:
//! not JSON, not an object, a float anywhere, an integer outside i64, a lone surrogate,
//! a repeated key in an object, nesting deeper than 64, a required field (timestamp,
//! action, httpRequest, clientIp) missing or unusual, non-ASCII header names or hosts,
//! and a few rare shapes listed where they are handled.
//!
//! No unsafe code; a panic (a bug) is caught and reads as a decline.

#![forbid(unsafe_code)]

mod config;
mod fields;
mod headers;
mod ip;
mod json;
mod rate_based;
mod request;
mod rules;
mod tape;
mod text;
mod time;
mod transform;
mod waf;
mod write;

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// Why the native path leaves a record to the Python paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decline;

/// A result, or a decline.
type R<T> = Result<T, Decline>;

/// One record's bytes -> (event id, @timestamp ms, document JSON), or None.
#[pyclass(module = "wafsiem_native")]
struct Transformer {
    config: config::Config,
    scratch: transform::Scratch,
}

#[pymethods]
impl Transformer {
    #[new]
    fn new(
        hash_key: &[u8],
        sensitive_headers: &Bound<'_, PyAny>,
        keep_original: bool,
    ) -> PyResult<Self> {
        if sensitive_headers.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "sensitive_headers must be an iterable of str, not a str",
            ));
        }
        let mut names = Vec::new();
        for name in sensitive_headers.try_iter()? {
            names.push(name?.extract::<String>()?);
        }
        Ok(Transformer {
            config: config::Config::new(hash_key, names, keep_original),
            scratch: transform::Scratch::default(),
        })
    }

    /// `(event_id, timestamp_ms, source)` of one record (surrounding whitespace already
    /// stripped), or None when the Python paths must decide.
    fn build<'py>(
        &mut self,
        py: Python<'py>,
        raw: &[u8],
    ) -> Option<(String, i64, Bound<'py, PyBytes>)> {
        let config = &self.config;
        let scratch = &mut self.scratch;
        let result = catch_unwind(AssertUnwindSafe(|| transform::build(config, scratch, raw)));
        let built = match result {
            Ok(Ok((event_id, timestamp))) => {
                Some((event_id, timestamp, PyBytes::new(py, &self.scratch.out)))
            }
            _ => None,
        };
        self.scratch.trim();
        built
    }
}

#[pymodule]
fn wafsiem_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Transformer>()?;
    Ok(())
}

/// For `examples/bench.rs`: run one part of the build on `raw` (0: all of it, 1: the
/// JSON parse, 2: SHA-256, 3: escaping the raw bytes); true unless it declined.
#[doc(hidden)]
pub fn bench(raw: &[u8], mode: u8) -> bool {
    use sha2::Digest;
    thread_local! {
        static STATE: std::cell::RefCell<(config::Config, transform::Scratch)> =
            std::cell::RefCell::new((
                config::Config::new(
                    b"wafsiem-default-header-hash-key",
                    ["authorization", "cookie", "set-cookie", "x-api-key"]
                        .map(String::from)
                        .to_vec(),
                    true,
                ),
                transform::Scratch::default(),
            ));
    }
    STATE.with(|state| {
        let (config, scratch) = &mut *state.borrow_mut();
        match mode {
            0 => transform::build(config, scratch, raw).is_ok(),
            1 => scratch.parse_only(raw),
            2 => std::hint::black_box(sha2::Sha256::digest(raw)).len() == 32,
            _ => {
                scratch.out.clear();
                write::escaped(&mut scratch.out, raw);
                true
            }
        }
    })
}
