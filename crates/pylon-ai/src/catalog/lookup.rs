//! The ids a model may be asked for under, for catalog lookup: as given,
//! without a location prefix (`models/` on Gemini, `publishers/…/models/`,
//! Bedrock ARNs), without a Bedrock geographic inference-profile prefix
//! (`us.`, `eu.`, `apac.`, `global.` …), without a provider prefix
//! (`openai/gpt-4o`), and without a trailing date or version
//! (`-2024-08-06`, `-20241022`, `@20241022`, `-0613`, `-001`, `-v2:0`,
//! `-latest`), and without an Ollama tag (`llama3.1:8b`). Only suffixes that name a snapshot of the same model are cut:
//! `o3-pro` never becomes `o3`, `claude-opus-4-5` never `claude-opus-4`.

/// Bedrock cross-region inference profiles put a geography before the model
/// id (`us.anthropic.claude-…`, `global.amazon.nova-…`).
const GEO_PREFIXES: &[&str] = &[
    "us", "us-gov", "eu", "apac", "jp", "au", "ca", "global", "ap", "sa", "me",
];

/// Candidate ids for `id`, most specific first, without duplicates.
pub fn candidates(id: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let push = |s: &str, out: &mut Vec<String>| {
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    };
    let id = id.trim();
    push(id, &mut out);
    // ARNs and resource paths: the part after the last `/` names the model
    // (`arn:aws:bedrock:…:inference-profile/us.anthropic…`, `models/gemini-…`,
    // `accounts/fireworks/models/…`), but `openai/gpt-4o` (OpenRouter) is an
    // id as given, so the full id was tried first.
    let mut bases = vec![id];
    if let Some((_, last)) = id.rsplit_once('/') {
        bases.push(last);
    }
    for base in bases {
        push(base, &mut out);
        let unprefixed = strip_geo(base);
        push(unprefixed, &mut out);
        let mut cut = unprefixed;
        while let Some(shorter) = strip_snapshot(cut) {
            push(shorter, &mut out);
            cut = shorter;
        }
        // `llama3.1:8b-instruct-q4_K_M`: an Ollama name and its tag.
        if let Some((name, tag)) = base.split_once(':')
            && !tag.contains(':')
            && !tag.bytes().all(|b| b.is_ascii_digit())
        {
            push(name, &mut out);
        }
    }
    out
}

/// `us.anthropic.claude-…` → `anthropic.claude-…`.
fn strip_geo(id: &str) -> &str {
    match id.split_once('.') {
        Some((geo, rest)) if GEO_PREFIXES.contains(&geo) && rest.contains('.') => rest,
        _ => id,
    }
}

/// `id` without one trailing snapshot suffix, if it has one.
fn strip_snapshot(id: &str) -> Option<&str> {
    // `-2024-08-06`: a dashed date, cut whole.
    if id.len() > 11 {
        let (head, tail) = id.split_at(id.len() - 11);
        let t = tail.as_bytes();
        if t[0] == b'-'
            && t[5] == b'-'
            && t[8] == b'-'
            && [&tail[1..5], &tail[6..8], &tail[9..11]]
                .iter()
                .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Some(head);
        }
    }
    let cut = id.rfind(['-', '@', ':'])?;
    let (head, sep, tail) = (&id[..cut], id.as_bytes()[cut], &id[cut + 1..]);
    let digits = !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit());
    if sep == b'-' && tail.len() == 2 && digits && is_month_day(head, tail) {
        // `-05-06` (`gemini-2.5-pro-preview-05-06`): month and day together.
        return head
            .rfind('-')
            .map(|i| &head[..i])
            .filter(|h| !h.is_empty());
    }
    let snapshot = match sep {
        // `@20241022` (Vertex), `:0` (Bedrock revisions).
        b'@' | b':' => digits,
        // `-20241022`, `-0613`, `-001`, `-latest`, `-v2` (Bedrock `-v2:0`).
        _ => {
            (digits && tail.len() >= 3)
                || tail == "latest"
                || (tail.len() >= 2
                    && tail.starts_with('v')
                    && tail[1..].bytes().all(|b| b.is_ascii_digit()))
        }
    };
    (snapshot && !head.is_empty()).then_some(head)
}

/// `…-05-06`: two two-digit numbers at the end, a month and a day.
fn is_month_day(head: &str, day: &str) -> bool {
    let Some((_, month)) = head.rsplit_once('-') else {
        return false;
    };
    let two = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    two(month) && two(day) && matches!(month.parse::<u8>(), Ok(1..=12))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(id: &str, want: &str) -> bool {
        candidates(id).iter().any(|c| c == want)
    }

    #[test]
    fn dated_snapshots_reach_the_base_id() {
        assert!(has("gpt-4o-2024-08-06", "gpt-4o"));
        assert!(has("gpt-4o-mini-2024-07-18", "gpt-4o-mini"));
        assert!(has("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"));
        assert!(has("claude-3-5-sonnet@20240620", "claude-3-5-sonnet"));
        assert!(has("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"));
        assert!(has("gpt-4-0613", "gpt-4"));
        assert!(has("gemini-2.0-flash-001", "gemini-2.0-flash"));
        assert!(has(
            "gemini-2.5-flash-preview-05-20",
            "gemini-2.5-flash-preview"
        ));
        assert!(has("mistral-large-latest", "mistral-large"));
        assert!(has(
            "anthropic.claude-3-5-sonnet-20241022-v2:0",
            "anthropic.claude-3-5-sonnet"
        ));
    }

    #[test]
    fn prefixes_are_removed() {
        assert!(has("models/gemini-2.5-pro", "gemini-2.5-pro"));
        assert!(has(
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "anthropic.claude-sonnet-4-20250514-v1:0"
        ));
        assert!(has(
            "global.amazon.nova-2-lite-v1:0",
            "amazon.nova-2-lite-v1:0"
        ));
        assert!(has(
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0",
            "amazon.nova-pro-v1:0"
        ));
        assert!(has("openai/gpt-4o", "gpt-4o"));
        assert!(has("llama3.1:8b", "llama3.1"));
        assert!(!has("ft:gpt-4o-mini:acme::x1", "ft"));
        assert_eq!(candidates("openai/gpt-4o")[0], "openai/gpt-4o");
    }

    #[test]
    fn different_models_are_not_reached() {
        for (id, not) in [
            ("o3-pro", "o3"),
            ("claude-opus-4-5", "claude-opus-4"),
            ("gpt-4o-mini", "gpt-4o"),
            ("gpt-4.1-nano", "gpt-4.1"),
            ("gemini-2.5-flash-lite", "gemini-2.5-flash"),
            ("llama-3.1-8b", "llama-3.1"),
            ("gpt-4.5-preview", "gpt-4.5"),
            // A dotted model id is no geography.
            ("gpt-4.1", "1"),
        ] {
            assert!(
                !has(id, not),
                "{id} must not reach {not}: {:?}",
                candidates(id)
            );
        }
    }
}
