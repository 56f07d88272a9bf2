//! Just enough JSON to read the top-level `"type"` of an application heartbeat.
//!
//! Peers format the same heartbeat differently (`{"type":"ping"}` from a browser's
//! `JSON.stringify`, `{"type": "ping"}` from Python's `json.dumps`, extra fields such as a
//! timestamp), so matching by text would miss some. This reads one object's top-level
//! keys, skipping nested values, in one linear pass with no allocation, and never panics
//! (fuzzed by the `codec` target).

/// The raw contents of the top-level `"type"` string of a JSON object, or `None` when
/// `text` is not a whole object or its `"type"` is missing or not a string. A repeated
/// `"type"` is read as its last value, as `JSON.parse` and Python's `json` read it, so a
/// heartbeat means here what it means to the peer that wrote it. Escapes are not
/// decoded: heartbeat types are plain words.
pub(crate) fn type_field(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return None;
    }
    let mut kind = None;
    loop {
        let (key, after_key) = string(b, i)?;
        i = skip_ws(b, after_key);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let end = skip_value(b, i)?;
        if key == b"type" {
            kind = match string(b, i) {
                Some((value, after)) if skip_ws(b, after) == end => Some(value),
                _ => None, // not a string: the last "type" is what the peer meant
            };
        }
        i = skip_ws(b, end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            // The value is a slice of `text` between two ASCII quotes: valid UTF-8.
            Some(b'}') => return core::str::from_utf8(kind?).ok(),
            _ => return None, // malformed
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// A string starting at `b[i] == '"'`: its raw contents and the index after it.
fn string(b: &[u8], i: usize) -> Option<(&[u8], usize)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'"' => return Some((b.get(i + 1..j)?, j + 1)),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
}

/// Skips one value starting at `b[i]`: a string, or anything up to the `,` or `}` that
/// ends it at this depth (nested objects and arrays counted, strings inside skipped).
fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match *b.get(i)? {
            b'"' => i = string(b, i)?.1,
            b'{' | b'[' => {
                depth += 1;
                i += 1;
            }
            b'}' | b']' if depth > 0 => {
                depth -= 1;
                i += 1;
            }
            b',' | b'}' if depth == 0 => return Some(i),
            _ => i += 1,
        }
    }
}
