//! The OpenAI BPE encodings (o200k_base, cl100k_base from `tiktoken-rs`,
//! which embeds the rank files), each built once on first use or by
//! [`warm_up`], and a counter that never panics: text is split at safe
//! points so the tokenizer's backtracking regex never meets a pathological
//! run, and very long text is sampled instead of tokenized whole.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

/// An OpenAI byte-pair encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GPT-4o, GPT-4.1, GPT-4.5, GPT-5, o-series.
    O200k,
    /// GPT-4, GPT-3.5, text-embedding-3, ada-002.
    Cl100k,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200k => "o200k_base",
            Encoding::Cl100k => "cl100k_base",
        }
    }
}

static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();

fn build(enc: Encoding) -> Result<CoreBPE, String> {
    match enc {
        Encoding::O200k => tiktoken_rs::o200k_base(),
        Encoding::Cl100k => tiktoken_rs::cl100k_base(),
    }
    .map_err(|e| e.to_string())
}

/// The encoding's tables, built on first use (tens of milliseconds); `None`
/// if the embedded data failed to load (then callers estimate).
pub fn bpe(enc: Encoding) -> Option<&'static CoreBPE> {
    let cell = match enc {
        Encoding::O200k => &O200K,
        Encoding::Cl100k => &CL100K,
    };
    cell.get_or_init(|| match build(enc) {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::error!(encoding = enc.name(), error = %e, "cannot load the tokenizer; token counts will be estimated");
            None
        }
    })
    .as_ref()
}

/// Whether the encoding's tables are built.
pub fn is_loaded(enc: Encoding) -> bool {
    match enc {
        Encoding::O200k => O200K.get().is_some(),
        Encoding::Cl100k => CL100K.get().is_some(),
    }
}

/// Build both encodings on a background thread (once per process), so the
/// first request that needs a count does not pay for it.
pub fn warm_up() {
    static STARTED: OnceLock<()> = OnceLock::new();
    if STARTED.set(()).is_err() {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("pylon-tokenizer-init".into())
        .spawn(|| {
            let t = std::time::Instant::now();
            bpe(Encoding::O200k);
            bpe(Encoding::Cl100k);
            tracing::debug!(ms = t.elapsed().as_millis() as u64, "tokenizers loaded");
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the tokenizer loader; encodings load on first use");
    }
}

/// Longest piece handed to the tokenizer at once. Its regex backtracks; a
/// single run of hundreds of kilobytes without a break makes it give up (and
/// `tiktoken-rs` would panic), so pieces stay well below that.
const PIECE: usize = 4096;

/// Text longer than this is counted from a sample (first and last parts) and
/// scaled, to bound the CPU spent on one request.
pub const SAMPLE_ABOVE: usize = 256 * 1024;
const SAMPLE_PART: usize = 64 * 1024;

/// A count of `text`'s tokens in `enc`: `(tokens, exact)`. `None` when the
/// encoding is unavailable.
pub fn count(enc: Encoding, text: &str) -> Option<(u64, bool)> {
    let bpe = bpe(enc)?;
    if text.len() <= SAMPLE_ABOVE {
        let (n, cut) = count_pieces(bpe, text);
        return Some((n, !cut));
    }
    let head = floor_char(text, SAMPLE_PART);
    let tail = ceil_char(text, text.len() - SAMPLE_PART);
    let sample = count_pieces(bpe, &text[..head]).0 + count_pieces(bpe, &text[tail..]).0;
    let bytes = (head + text.len() - tail) as f64;
    let scaled = (sample as f64 * text.len() as f64 / bytes).ceil() as u64;
    Some((scaled, false))
}

/// Tokens of `text` encoded in pieces; `true` when a piece had to be cut
/// where the tokenizer might not have split (the count may be off by one
/// per such cut).
fn count_pieces(bpe: &CoreBPE, text: &str) -> (u64, bool) {
    let mut total = 0u64;
    let mut forced = false;
    let mut rest = text;
    while !rest.is_empty() {
        let (piece, cut_forced) = next_piece(rest);
        forced |= cut_forced;
        total += bpe.encode_ordinary(piece).len() as u64;
        rest = &rest[piece.len()..];
    }
    (total, forced)
}

/// The first piece of `text`: all of it when short, else up to the last
/// space that follows a non-space (both encodings split there: no piece of
/// their pattern continues across it), else a forced cut at `PIECE`.
fn next_piece(text: &str) -> (&str, bool) {
    if text.len() <= PIECE {
        return (text, false);
    }
    let window = &text[..floor_char(text, PIECE)];
    let bytes = window.as_bytes();
    let safe = (1..bytes.len())
        .rev()
        .find(|&i| bytes[i] == b' ' && !bytes[i - 1].is_ascii_whitespace() && bytes[i - 1] < 0x80);
    match safe {
        Some(i) => (&text[..i], false),
        None => (window, true),
    }
}

/// The largest char boundary ≤ `i`.
fn floor_char(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary ≥ `i`.
fn ceil_char(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(enc: Encoding, text: &str) -> u64 {
        bpe(enc).unwrap().encode_ordinary(text).len() as u64
    }

    #[test]
    fn known_counts() {
        // Reference counts of the published encodings.
        assert_eq!(count(Encoding::Cl100k, "hello world"), Some((2, true)));
        assert_eq!(count(Encoding::O200k, "hello world"), Some((2, true)));
        assert_eq!(
            count(Encoding::Cl100k, "tiktoken is great!"),
            Some((6, true))
        );
        assert_eq!(count(Encoding::O200k, ""), Some((0, true)));
    }

    #[test]
    fn pieces_split_where_the_tokenizer_does() {
        // Ordinary prose far longer than one piece counts exactly as if
        // encoded whole.
        let para = "The quick brown fox jumps over the lazy dog, again and again; \
                    numbers 12345 and symbols (#!) follow.\n\n";
        let text = para.repeat(400);
        assert!(text.len() > 4 * PIECE);
        for enc in [Encoding::O200k, Encoding::Cl100k] {
            assert_eq!(count(enc, &text), Some((whole(enc, &text), true)));
        }
    }

    #[test]
    fn pathological_runs_do_not_panic() {
        // A million repeated symbols or spaces make the tokenizer's regex give
        // up when encoded in one go; in pieces they count, marked inexact.
        for c in ["^", " ", "a", "\n"] {
            let text = c.repeat(200_000);
            let (n, exact) = count(Encoding::Cl100k, &text).unwrap();
            assert!(n > 0 && !exact, "{c:?}: {n}");
        }
    }

    #[test]
    fn long_text_is_sampled_and_scaled() {
        let text = "word ".repeat(SAMPLE_ABOVE / 5 * 3);
        let real = whole(Encoding::O200k, &text);
        let (n, exact) = count(Encoding::O200k, &text).unwrap();
        assert!(!exact);
        let err = (n as f64 - real as f64).abs() / real as f64;
        assert!(err < 0.02, "{n} vs {real}");
    }

    #[test]
    fn multibyte_text_is_cut_on_char_boundaries() {
        let text = "日本語のテキスト".repeat(2000);
        let (n, _) = count(Encoding::O200k, &text).unwrap();
        assert!(n > 1000);
    }
}
