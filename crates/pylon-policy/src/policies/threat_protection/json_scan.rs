//! A streaming scanner over raw JSON bytes: checks nesting depth, array
//! lengths, object key counts and string lengths in one pass with an explicit
//! stack (no recursion, so hostile nesting costs memory bounded by the depth
//! limit, never the call stack), and hands decoded strings to a callback.
//! It checks structure only as far as the limits need; it is not a full
//! JSON validator.

/// JSON shape limits; `None` is no limit.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    pub depth: Option<usize>,
    pub array_length: Option<usize>,
    pub string_length: Option<usize>,
    pub object_keys: Option<usize>,
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    Depth,
    ArrayLength,
    StringLength,
    ObjectKeys,
    Malformed,
    /// Raised by the string callback.
    Found(&'static str, &'static str),
}

impl Violation {
    /// The check's name for messages and logs.
    pub fn check(&self) -> &'static str {
        match self {
            Violation::Depth => "json_depth",
            Violation::ArrayLength => "json_array_length",
            Violation::StringLength => "json_string_length",
            Violation::ObjectKeys => "json_object_keys",
            Violation::Malformed => "malformed_json",
            Violation::Found(category, _) => category,
        }
    }
}

/// Receives each decoded key and string value; an error stops the scan.
pub type OnString<'a> = &'a mut dyn FnMut(&str) -> Result<(), Violation>;

struct Frame {
    object: bool,
    count: usize,
    expect_key: bool,
}

fn over(limit: Option<usize>, n: usize) -> bool {
    limit.is_some_and(|l| n > l)
}

/// Scan `bytes`. With `on_string`, every key and string value is decoded and
/// passed to it; its error stops the scan.
pub fn scan(
    bytes: &[u8],
    limits: &Limits,
    mut on_string: Option<OnString<'_>>,
) -> Result<(), Violation> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut root_seen = false;
    let mut buf = String::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'{' | b'[' => {
                value_start(&mut stack, &mut root_seen, limits)?;
                if over(limits.depth, stack.len() + 1) {
                    return Err(Violation::Depth);
                }
                let object = b == b'{';
                stack.push(Frame {
                    object,
                    count: 0,
                    expect_key: object,
                });
                i += 1;
            }
            b'}' | b']' => {
                let f = stack.pop().ok_or(Violation::Malformed)?;
                if f.object != (b == b'}') {
                    return Err(Violation::Malformed);
                }
                i += 1;
            }
            b',' => {
                let f = stack.last_mut().ok_or(Violation::Malformed)?;
                if f.object {
                    f.expect_key = true;
                }
                i += 1;
            }
            b':' => {
                if !stack.last().is_some_and(|f| f.object && !f.expect_key) {
                    return Err(Violation::Malformed);
                }
                i += 1;
            }
            b'"' => {
                match stack.last_mut() {
                    Some(f) if f.object && f.expect_key => {
                        f.count += 1;
                        f.expect_key = false;
                        if over(limits.object_keys, f.count) {
                            return Err(Violation::ObjectKeys);
                        }
                    }
                    _ => value_start(&mut stack, &mut root_seen, limits)?,
                }
                let end = string_end(bytes, i + 1)?;
                let raw = bytes.get(i + 1..end).ok_or(Violation::Malformed)?;
                if over(limits.string_length, raw.len()) {
                    return Err(Violation::StringLength);
                }
                if let Some(cb) = on_string.as_mut() {
                    decode(raw, &mut buf)?;
                    cb(&buf)?;
                }
                i = end + 1;
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                value_start(&mut stack, &mut root_seen, limits)?;
                while bytes
                    .get(i)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
                {
                    i += 1;
                }
            }
            _ => return Err(Violation::Malformed),
        }
    }
    if !stack.is_empty() || !root_seen {
        return Err(Violation::Malformed);
    }
    Ok(())
}

/// A value begins: count it in its array; one value only at the top level.
fn value_start(
    stack: &mut [Frame],
    root_seen: &mut bool,
    limits: &Limits,
) -> Result<(), Violation> {
    match stack.last_mut() {
        Some(f) if f.object => {
            if f.expect_key {
                return Err(Violation::Malformed);
            }
        }
        Some(f) => {
            f.count += 1;
            if over(limits.array_length, f.count) {
                return Err(Violation::ArrayLength);
            }
        }
        None => {
            if *root_seen {
                return Err(Violation::Malformed);
            }
            *root_seen = true;
        }
    }
    Ok(())
}

/// Index of the closing quote of a string whose content starts at `from`.
fn string_end(bytes: &[u8], from: usize) -> Result<usize, Violation> {
    let mut j = from;
    while let Some(&c) = bytes.get(j) {
        match c {
            b'"' => return Ok(j),
            b'\\' => j += 2,
            0..=0x1f => return Err(Violation::Malformed),
            _ => j += 1,
        }
    }
    Err(Violation::Malformed)
}

fn hex4(raw: &[u8], at: usize) -> Result<u32, Violation> {
    let digits = raw.get(at..at + 4).ok_or(Violation::Malformed)?;
    let s = std::str::from_utf8(digits).map_err(|_| Violation::Malformed)?;
    u32::from_str_radix(s, 16).map_err(|_| Violation::Malformed)
}

fn utf8(b: &[u8]) -> Result<&str, Violation> {
    std::str::from_utf8(b).map_err(|_| Violation::Malformed)
}

/// Decode a string's raw content (escapes resolved; lone surrogates become U+FFFD).
fn decode(raw: &[u8], out: &mut String) -> Result<(), Violation> {
    out.clear();
    let mut seg = 0;
    let mut k = 0;
    while k < raw.len() {
        if raw[k] != b'\\' {
            k += 1;
            continue;
        }
        out.push_str(utf8(&raw[seg..k])?);
        let esc = *raw.get(k + 1).ok_or(Violation::Malformed)?;
        k += 2;
        let c = match esc {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(raw, k)?;
                k += 4;
                if (0xD800..0xDC00).contains(&hi)
                    && raw.get(k) == Some(&b'\\')
                    && raw.get(k + 1) == Some(&b'u')
                    && let Ok(lo) = hex4(raw, k + 2)
                    && (0xDC00..0xE000).contains(&lo)
                {
                    k += 6;
                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        .unwrap_or(char::REPLACEMENT_CHARACTER)
                } else {
                    char::from_u32(hi).unwrap_or(char::REPLACEMENT_CHARACTER)
                }
            }
            _ => return Err(Violation::Malformed),
        };
        out.push(c);
        seg = k;
    }
    out.push_str(utf8(raw.get(seg..).unwrap_or_default())?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(depth: usize, array: usize, string: usize, keys: usize) -> Limits {
        Limits {
            depth: Some(depth),
            array_length: Some(array),
            string_length: Some(string),
            object_keys: Some(keys),
        }
    }

    fn check(doc: &str, l: &Limits) -> Result<(), Violation> {
        scan(doc.as_bytes(), l, None)
    }

    #[test]
    fn depth_is_counted_per_container() {
        let l = limits(2, 100, 100, 100);
        assert_eq!(check(r#"[[1]]"#, &l), Ok(()));
        assert_eq!(check(r#"{"a":{"b":1}}"#, &l), Ok(()));
        assert_eq!(check(r#"[[[1]]]"#, &l), Err(Violation::Depth));
        assert_eq!(check(r#"{"a":[{"b":1}]}"#, &l), Err(Violation::Depth));
        // Depth returns to the level after closing.
        assert_eq!(check(r#"[[1],[2],{"a":1},[]]"#, &l), Ok(()));
    }

    #[test]
    fn hostile_nesting_stops_at_the_limit() {
        let doc = "[".repeat(1_000_000);
        let l = limits(64, 100, 100, 100);
        assert_eq!(scan(doc.as_bytes(), &l, None), Err(Violation::Depth));
        // Without a depth limit the stack is on the heap: no overflow, just malformed.
        let none = Limits::default();
        assert_eq!(scan(doc.as_bytes(), &none, None), Err(Violation::Malformed));
    }

    #[test]
    fn arrays_keys_and_strings_are_counted() {
        let l = limits(10, 3, 5, 2);
        assert_eq!(check(r#"[1,2,3]"#, &l), Ok(()));
        assert_eq!(check(r#"[1,2,3,4]"#, &l), Err(Violation::ArrayLength));
        assert_eq!(check(r#"[[],{},"x"]"#, &l), Ok(()));
        assert_eq!(
            check(r#"["a",[1],{},null]"#, &l),
            Err(Violation::ArrayLength)
        );
        assert_eq!(check(r#"{"a":1,"b":[1,2]}"#, &l), Ok(()));
        assert_eq!(
            check(r#"{"a":1,"b":2,"c":3}"#, &l),
            Err(Violation::ObjectKeys)
        );
        assert_eq!(check(r#"{"abcde":"12345"}"#, &l), Ok(()));
        assert_eq!(check(r#"{"a":"123456"}"#, &l), Err(Violation::StringLength));
        assert_eq!(check(r#"{"abcdef":1}"#, &l), Err(Violation::StringLength));
        // Commas inside strings are not elements.
        assert_eq!(check(r#"[",,,,,,"]"#, &limits(10, 3, 100, 2)), Ok(()));
    }

    #[test]
    fn malformed_documents_are_refused() {
        let l = Limits::default();
        for bad in [
            "",
            "[",
            "[1,2",
            "]",
            "{\"a\" 1 ]",
            "[1}",
            "{1:2}",
            "\"abc",
            "1 2",
            "{\"a\":1,2}",
            "[\"\\x\"]",
            "@",
        ] {
            let decoded = &mut |_: &str| Ok(());
            assert_eq!(
                scan(bad.as_bytes(), &l, Some(decoded)),
                Err(Violation::Malformed),
                "{bad:?}"
            );
        }
        for good in ["1", "\"s\"", " { } ", "[true,false,null,-1.5e3]"] {
            assert_eq!(check(good, &l), Ok(()), "{good:?}");
        }
    }

    #[test]
    fn strings_are_decoded_for_the_callback() {
        let mut seen = Vec::new();
        let mut cb = |s: &str| {
            seen.push(s.to_string());
            Ok(())
        };
        let doc = r#"{"k\u0027":"a\"b\\c\n","e":"\ud83d\ude00 \u00e9","lone":"\ud800x"}"#;
        assert_eq!(
            scan(doc.as_bytes(), &Limits::default(), Some(&mut cb)),
            Ok(())
        );
        assert_eq!(
            seen,
            vec!["k'", "a\"b\\c\n", "e", "😀 é", "lone", "\u{fffd}x"]
        );
        let mut stop = |s: &str| {
            if s.contains('\'') {
                Err(Violation::Found("sql_injection", "x"))
            } else {
                Ok(())
            }
        };
        assert_eq!(
            scan(br#"["ok","\u0027"]"#, &Limits::default(), Some(&mut stop)),
            Err(Violation::Found("sql_injection", "x"))
        );
    }
}
