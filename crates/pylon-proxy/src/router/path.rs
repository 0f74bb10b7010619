//! Request-path normalization and the percent-encoding helpers the router uses.
//!
//! [`normalize_path`] turns the path part of a request target (no query) into the
//! canonical form every route is matched against:
//!
//! 1. it must start with `/`;
//! 2. percent-escapes of unreserved characters (`ALPHA DIGIT - . _ ~`) are decoded,
//!    every other escape is kept with its hex digits upper-cased (`%2f` → `%2F`),
//!    so an encoded `/` (`%2F`) or `\` (`%5C`) never becomes a separator;
//! 3. malformed escapes (`%zz`, `%4`), raw control characters (0x00–0x1F, 0x7F)
//!    and an encoded NUL (`%00`) are rejected;
//! 4. runs of `/` collapse into one;
//! 5. `.` and `..` segments are resolved as in RFC 3986 §5.2.4; `..` above the root
//!    stays at the root. Because step 2 runs first, `%2e%2e` counts as `..`.
//!
//! Other raw characters (including non-ASCII) are left as they are, and a trailing
//! `/` is kept: `/a/` and `/a` are different paths.

use std::borrow::Cow;

/// Why a request path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path must start with `/`")]
    NotAbsolute,
    #[error("invalid percent-escape at byte {0}")]
    InvalidEscape(usize),
    #[error("control character at byte {0}")]
    ControlCharacter(usize),
    #[error("encoded NUL (%00) at byte {0}")]
    EncodedNul(usize),
}

/// Normalize the path of a request target; see the module documentation.
pub fn normalize_path(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut out = String::with_capacity(raw.len());
    let mut pos = 1;
    loop {
        let end = memchr_slash(bytes, pos);
        let last = end == bytes.len();
        let seg_start = out.len();
        out.push('/');
        decode_segment(raw, pos, end, &mut out)?;
        match &out[seg_start + 1..] {
            // An empty segment: a doubled slash (dropped) or a trailing one (kept).
            "" if !last => out.truncate(seg_start),
            "." => {
                out.truncate(seg_start);
                if last {
                    out.push('/');
                }
            }
            ".." => {
                out.truncate(seg_start);
                let parent = out.rfind('/').unwrap_or(0);
                out.truncate(parent);
                if last {
                    out.push('/');
                }
            }
            _ => {}
        }
        if last {
            break;
        }
        pos = end + 1;
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Index of the next `/` at or after `from`, or `bytes.len()`.
fn memchr_slash(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'/')
        .map_or(bytes.len(), |i| from + i)
}

/// Append `raw[start..end]` (one segment, no `/`) to `out`, decoding escapes of
/// unreserved characters and upper-casing the others.
fn decode_segment(raw: &str, start: usize, end: usize, out: &mut String) -> Result<(), PathError> {
    let bytes = raw.as_bytes();
    let mut run = start;
    let mut i = start;
    while i < end {
        let b = bytes[i];
        if b == b'%' {
            out.push_str(&raw[run..i]);
            let (hi, lo) = match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&h), Some(&l)) if i + 2 < end => (h, l),
                _ => return Err(PathError::InvalidEscape(i)),
            };
            let value = match (hex_value(hi), hex_value(lo)) {
                (Some(h), Some(l)) => (h << 4) | l,
                _ => return Err(PathError::InvalidEscape(i)),
            };
            if value == 0 {
                return Err(PathError::EncodedNul(i));
            }
            if is_unreserved(value) {
                out.push(char::from(value));
            } else {
                push_escape(out, value);
            }
            i += 3;
            run = i;
        } else if b < 0x20 || b == 0x7f {
            return Err(PathError::ControlCharacter(i));
        } else {
            i += 1;
        }
    }
    out.push_str(&raw[run..end]);
    Ok(())
}

/// `ALPHA / DIGIT / "-" / "." / "_" / "~"` (RFC 3986 §2.3).
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xf)]));
}

/// Fully percent-decode `s` (malformed escapes are kept literally). Bytes that do
/// not form UTF-8 are replaced by U+FFFD. Borrows when there is nothing to decode.
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    decode_impl(s, false)
}

/// Decode a query-string name or value the way HTML forms encode them: `+` is a
/// space, then percent-escapes as in [`percent_decode`].
pub fn decode_query_component(s: &str) -> Cow<'_, str> {
    decode_impl(s, true)
}

fn decode_impl(s: &str, plus_is_space: bool) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    if !bytes
        .iter()
        .any(|&b| b == b'%' || (plus_is_space && b == b'+'))
    {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let decoded = match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&h), Some(&l)) => hex_value(h).zip(hex_value(l)).map(|(h, l)| (h << 4) | l),
                _ => None,
            };
            if let Some(v) = decoded {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if plus_is_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Percent-encode `s` for use inside a path: unreserved characters, sub-delims,
/// `:` and `@` stay; `/` stays only when `keep_slash` is set; everything else
/// (including `%`) is escaped.
pub fn encode_path_component(s: &str, keep_slash: bool) -> Cow<'_, str> {
    let keep = |b: u8| {
        is_unreserved(b)
            || matches!(
                b,
                b'!' | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
            )
            || (keep_slash && b == b'/')
    };
    if s.bytes().all(keep) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            push_escape(&mut out, b);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        match normalize_path(s) {
            Ok(p) => p,
            Err(e) => panic!("{s:?} was refused: {e}"),
        }
    }

    #[test]
    fn plain_paths_are_unchanged() {
        for p in [
            "/",
            "/a",
            "/a/b",
            "/a/b/",
            "/users/42/posts",
            "/a-b_c~d.e",
            "/é/ü",
            "/a;b=c",
            "/a{b}",
        ] {
            assert_eq!(norm(p), p);
        }
    }

    #[test]
    fn must_start_with_slash() {
        assert_eq!(normalize_path(""), Err(PathError::NotAbsolute));
        assert_eq!(normalize_path("a/b"), Err(PathError::NotAbsolute));
        assert_eq!(normalize_path("*"), Err(PathError::NotAbsolute));
        assert_eq!(normalize_path("%2Fa"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn decodes_unreserved_escapes() {
        assert_eq!(norm("/%61%62%63"), "/abc");
        assert_eq!(norm("/%41%5a%30%39"), "/AZ09");
        assert_eq!(norm("/%2D%2E%5F%7E"), "/-._~");
        assert_eq!(norm("/%7e%7Euser"), "/~~user");
    }

    #[test]
    fn keeps_reserved_escapes_upper_cased() {
        assert_eq!(norm("/a%2fb"), "/a%2Fb");
        assert_eq!(norm("/a%2Fb"), "/a%2Fb");
        assert_eq!(norm("/a%5cb"), "/a%5Cb");
        assert_eq!(norm("/%20x%3f%23"), "/%20x%3F%23");
        assert_eq!(norm("/%c3%a9"), "/%C3%A9");
        assert_eq!(norm("/%25"), "/%25");
        assert_eq!(norm("/%252e%252e"), "/%252e%252e");
    }

    #[test]
    fn encoded_slash_is_not_a_separator() {
        assert_eq!(norm("/a/..%2F..%2Fetc"), "/a/..%2F..%2Fetc");
        assert_eq!(norm("/a/%2e%2e%2fb"), "/a/..%2Fb");
    }

    #[test]
    fn rejects_malformed_escapes() {
        assert_eq!(normalize_path("/%zz"), Err(PathError::InvalidEscape(1)));
        assert_eq!(normalize_path("/a%4"), Err(PathError::InvalidEscape(2)));
        assert_eq!(normalize_path("/a%"), Err(PathError::InvalidEscape(2)));
        assert_eq!(normalize_path("/a%4/b"), Err(PathError::InvalidEscape(2)));
        assert_eq!(normalize_path("/a%/4b"), Err(PathError::InvalidEscape(2)));
        assert_eq!(normalize_path("/%g1"), Err(PathError::InvalidEscape(1)));
        assert_eq!(normalize_path("/%1g"), Err(PathError::InvalidEscape(1)));
    }

    #[test]
    fn rejects_control_characters_and_nul() {
        assert_eq!(normalize_path("/a\0b"), Err(PathError::ControlCharacter(2)));
        assert_eq!(normalize_path("/a\nb"), Err(PathError::ControlCharacter(2)));
        assert_eq!(normalize_path("/a\r"), Err(PathError::ControlCharacter(2)));
        assert_eq!(normalize_path("/\t"), Err(PathError::ControlCharacter(1)));
        assert_eq!(normalize_path("/\x7f"), Err(PathError::ControlCharacter(1)));
        assert_eq!(normalize_path("/a%00"), Err(PathError::EncodedNul(2)));
        // Encoded control characters other than NUL stay encoded.
        assert_eq!(norm("/a%0a"), "/a%0A");
    }

    #[test]
    fn collapses_duplicate_slashes() {
        assert_eq!(norm("//"), "/");
        assert_eq!(norm("///a"), "/a");
        assert_eq!(norm("/a//b///c"), "/a/b/c");
        assert_eq!(norm("/a//"), "/a/");
        assert_eq!(norm("//a//b//"), "/a/b/");
    }

    #[test]
    fn resolves_dot_segments() {
        assert_eq!(norm("/public/../admin"), "/admin");
        assert_eq!(norm("/a/%2e%2e/b"), "/b");
        assert_eq!(norm("/a/%2E%2e/b"), "/b");
        assert_eq!(norm("/a/.%2e/b"), "/b");
        assert_eq!(norm("/a/./b"), "/a/b");
        assert_eq!(norm("/a/%2e/b"), "/a/b");
        assert_eq!(norm("/a/b/../c"), "/a/c");
        assert_eq!(norm("/a/b/../../c"), "/c");
        assert_eq!(norm("/a/b/c/./../../g"), "/a/g");
        assert_eq!(norm("/mid/content=5/../6"), "/mid/6");
    }

    #[test]
    fn trailing_dot_segments_leave_a_slash() {
        assert_eq!(norm("/."), "/");
        assert_eq!(norm("/.."), "/");
        assert_eq!(norm("/a/."), "/a/");
        assert_eq!(norm("/a/.."), "/");
        assert_eq!(norm("/a/b/.."), "/a/");
        assert_eq!(norm("/a/b/."), "/a/b/");
        assert_eq!(norm("/a/b/%2e%2e"), "/a/");
    }

    #[test]
    fn dot_dot_above_root_stays_at_root() {
        assert_eq!(norm("/../a"), "/a");
        assert_eq!(norm("/../../../etc/passwd"), "/etc/passwd");
        assert_eq!(norm("/a/../../b"), "/b");
        assert_eq!(norm("/%2e%2e/%2e%2e/x"), "/x");
        assert_eq!(norm("//../x"), "/x");
    }

    #[test]
    fn dots_inside_segments_are_literal() {
        assert_eq!(norm("/a/.../b"), "/a/.../b");
        assert_eq!(norm("/a/..b/c"), "/a/..b/c");
        assert_eq!(norm("/a/b../c"), "/a/b../c");
        assert_eq!(norm("/.well-known/x"), "/.well-known/x");
        assert_eq!(norm("/file.tar.gz"), "/file.tar.gz");
    }

    #[test]
    fn combined_cases() {
        assert_eq!(norm("//a/./b/%2E%2E//c/%7Efoo/%2f"), "/a/c/~foo/%2F");
        assert_eq!(norm("/a/b/..//c"), "/a/c");
        assert_eq!(norm("/./"), "/");
        assert_eq!(norm("/a/./"), "/a/");
    }

    #[test]
    fn normalization_is_idempotent() {
        for p in [
            "/a/%2fb/../c",
            "//x/./y/..",
            "/%7e/%41%2F",
            "/a/b/",
            "/..%2F",
        ] {
            let once = norm(p);
            assert_eq!(norm(&once), once, "{p}");
        }
    }

    #[test]
    fn percent_decode_handles_everything() {
        assert_eq!(percent_decode("abc"), "abc");
        assert!(matches!(percent_decode("abc"), Cow::Borrowed(_)));
        assert_eq!(percent_decode("a%2Fb%20c"), "a/b c");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("a+b"), "a+b");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
    }

    #[test]
    fn query_components_decode_plus() {
        assert_eq!(decode_query_component("a+b%2Bc"), "a b+c");
        assert!(matches!(decode_query_component("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn encode_path_component_escapes_unsafe_bytes() {
        assert_eq!(encode_path_component("abc-._~", false), "abc-._~");
        assert_eq!(encode_path_component("a/b", false), "a%2Fb");
        assert_eq!(encode_path_component("a/b", true), "a/b");
        assert_eq!(encode_path_component("a b%?#", false), "a%20b%25%3F%23");
        assert_eq!(encode_path_component("é", false), "%C3%A9");
        assert_eq!(encode_path_component("a:b@c=d", false), "a:b@c=d");
    }
}
