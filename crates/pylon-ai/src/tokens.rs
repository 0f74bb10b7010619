//! Token estimates for when a provider reports no usage (a stream cut short,
//! servers that omit it) and for pre-call checks (context window, budget
//! reservations). Estimates are marked as such in the call record.

use crate::types::{ChatRequest, Part};

/// Tokens in `text`, estimated: about four characters per token for
/// Latin text, one token per character for CJK and other wide scripts.
pub fn estimate_text(text: &str) -> u64 {
    let mut narrow = 0u64;
    let mut wide = 0u64;
    for c in text.chars() {
        if (c as u32) < 0x2E80 {
            narrow += 1;
        } else {
            wide += 1;
        }
    }
    narrow.div_ceil(4) + wide
}

/// Prompt tokens of a request: message text, tool definitions, a few
/// tokens of overhead per message, and a flat allowance per image.
pub fn estimate_prompt(req: &ChatRequest) -> u64 {
    let mut n = 3;
    for m in &req.messages {
        n += 4;
        for p in &m.content {
            n += match p {
                Part::Text(t) => estimate_text(t),
                Part::Thinking { text, .. } => estimate_text(text),
                Part::Image { .. } => 765,
            };
        }
        for c in &m.tool_calls {
            n += estimate_text(&c.name) + estimate_text(&c.arguments) + 3;
        }
    }
    for t in &req.tools {
        n += estimate_text(&t.name)
            + t.description.as_deref().map_or(0, estimate_text)
            + estimate_text(&t.parameters.to_string())
            + 8;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Message, Role};

    #[test]
    fn estimates_grow_with_text() {
        assert_eq!(estimate_text(""), 0);
        assert_eq!(estimate_text("abcd"), 1);
        assert_eq!(estimate_text("abcde"), 2);
        assert_eq!(estimate_text("日本語"), 3);
        let r = ChatRequest {
            messages: vec![Message::text(Role::User, "hello there, how are you?")],
            ..Default::default()
        };
        let n = estimate_prompt(&r);
        assert!((10..20).contains(&n), "{n}");
    }
}
