//! Token counts for when a provider reports no usage (a stream cut short,
//! servers that omit it) and for pre-call checks (context window, budget
//! reservations). OpenAI-family models are counted with their real encoding
//! (`tiktoken-rs`: o200k_base, cl100k_base) and OpenAI's chat-format rules;
//! other families get the approximation documented in docs/ai/catalog.md.
//! Every count says whether it is exact.
//!
//! Tokenizing costs CPU, so the request path avoids it: a cheap upper bound
//! ([`PromptTokens`]) settles most context-window checks, and the call
//! record counts only when the provider gave no usage. The encodings load
//! once per process ([`warm_up`]).

mod bpe;
mod chat;
mod family;

use parking_lot::Mutex;

pub use bpe::{Encoding, is_loaded, warm_up};
pub use chat::{count_prompt_in, upper_bound};
pub use family::{Family, ImageRule, family, family_of};

use crate::types::{ChatRequest, ImageSource, Message, Part};

/// A token count and whether it is exact (the model's own tokenizer and
/// format rules) or an approximation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenCount {
    pub tokens: u64,
    pub exact: bool,
}

/// Prompt tokens of `req` for the model named by `model_kind_or_id`: an id
/// (`gpt-4o`), a kind (`anthropic`) or `kind/id`.
pub fn count_prompt(model_kind_or_id: &str, req: &ChatRequest) -> TokenCount {
    count_prompt_in(family(model_kind_or_id), req)
}

/// Tokens of plain `text` (an embeddings input, generated output) for a
/// model of `family`; no chat framing.
pub fn count_text_in(family: Family, text: &str) -> TokenCount {
    match bpe::count(family.encoding(), text) {
        Some((tokens, exact)) => TokenCount {
            tokens,
            exact: exact && family.exact_capable(),
        },
        None => TokenCount {
            tokens: estimate_text(text),
            exact: false,
        },
    }
}

/// [`count_text_in`] for the model named by `model_kind_or_id`.
pub fn count_text(model_kind_or_id: &str, text: &str) -> TokenCount {
    count_text_in(family(model_kind_or_id), text)
}

/// Tokens in `text`, estimated without a tokenizer: about four characters
/// per token for Latin text, one token per character for CJK and other wide
/// scripts.
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

/// Prompt tokens of a request estimated without a tokenizer: message text,
/// tool definitions, a few tokens of overhead per message, and a flat
/// allowance per image.
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

/// A copy of `req` with what counting needs, without image bytes (which a
/// count never reads), to keep for counting after the call.
pub fn for_counting(req: &ChatRequest) -> ChatRequest {
    let messages = req
        .messages
        .iter()
        .map(|m| Message {
            role: m.role,
            content: m
                .content
                .iter()
                .map(|p| match p {
                    Part::Image { detail, .. } => Part::Image {
                        source: ImageSource::Url(String::new()),
                        detail: detail.clone(),
                    },
                    other => other.clone(),
                })
                .collect(),
            name: m.name.clone(),
            tool_calls: m.tool_calls.clone(),
            tool_call_id: m.tool_call_id.clone(),
            is_error: m.is_error,
        })
        .collect();
    ChatRequest {
        model: req.model.clone(),
        messages,
        tools: req.tools.clone(),
        response_format: req.response_format.clone(),
        ..Default::default()
    }
}

/// The prompt of one call as the attempt loop checks it against each
/// deployment's context window: the cheap bound first, a real count (once
/// per family) only when the bound does not fit.
pub struct PromptTokens<'a> {
    req: &'a ChatRequest,
    bound: u64,
    counted: Mutex<Vec<(Family, TokenCount)>>,
}

impl<'a> PromptTokens<'a> {
    pub fn new(req: &'a ChatRequest) -> Self {
        Self {
            req,
            bound: upper_bound(req),
            counted: Mutex::new(Vec::new()),
        }
    }

    /// An upper bound of the prompt's tokens for any model.
    pub fn bound(&self) -> u64 {
        self.bound
    }

    /// The prompt's tokens for a model of `family` (counted once).
    pub fn count(&self, family: Family) -> TokenCount {
        if let Some((_, c)) = self.counted.lock().iter().find(|(f, _)| *f == family) {
            return *c;
        }
        let c = count_prompt_in(family, self.req);
        self.counted.lock().push((family, c));
        c
    }

    /// `Ok` when the prompt and `max_output` fit `window`; else the tokens
    /// the call would need (and whether that figure is exact).
    pub fn fits(&self, family: Family, max_output: u64, window: u64) -> Result<(), TokenCount> {
        if self.bound + max_output <= window {
            return Ok(());
        }
        let c = self.count(family);
        let want = c.tokens + max_output;
        if want <= window {
            Ok(())
        } else {
            Err(TokenCount {
                tokens: want,
                exact: c.exact,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Role;

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

    #[test]
    fn count_prompt_is_exact_for_openai_text() {
        let r = ChatRequest {
            messages: vec![Message::text(Role::User, "hello world")],
            ..Default::default()
        };
        // priming 3 + message 3 + "user" 1 + "hello world" 2.
        assert_eq!(
            count_prompt("gpt-4o", &r),
            TokenCount {
                tokens: 9,
                exact: true
            }
        );
        assert_eq!(count_prompt("openai/gpt-4.1-mini", &r).tokens, 9);
        let c = count_prompt("anthropic", &r);
        assert!(!c.exact && c.tokens == 9);
    }

    #[test]
    fn text_counts_are_exact_only_for_openai() {
        assert_eq!(
            count_text("text-embedding-3-small", "hello world"),
            TokenCount {
                tokens: 2,
                exact: true
            }
        );
        assert!(!count_text("mistral-embed", "hello world").exact);
    }

    #[test]
    fn the_counting_copy_drops_image_bytes_only() {
        let r = ChatRequest {
            model: "gpt-4o".into(),
            messages: vec![Message::new(
                Role::User,
                vec![
                    Part::Text("look".into()),
                    Part::Image {
                        source: ImageSource::Base64 {
                            media_type: "image/png".into(),
                            data: "A".repeat(10_000),
                        },
                        detail: Some("low".into()),
                    },
                ],
            )],
            ..Default::default()
        };
        let copy = for_counting(&r);
        assert_eq!(count_prompt("gpt-4o", &copy), count_prompt("gpt-4o", &r));
        assert!(matches!(
            &copy.messages[0].content[1],
            Part::Image { source: ImageSource::Url(u), .. } if u.is_empty()
        ));
    }

    #[test]
    fn fits_counts_only_when_the_bound_is_too_big() {
        let text = "word ".repeat(2000);
        let r = ChatRequest {
            messages: vec![Message::text(Role::User, text)],
            ..Default::default()
        };
        let p = PromptTokens::new(&r);
        let f = family("gpt-4o");
        assert!(p.fits(f, 1000, 1_000_000).is_ok());
        assert!(p.counted.lock().is_empty(), "the bound sufficed");
        // 10,000 bytes do not fit 5,000, but the 2,008 real tokens do (2,000 words, the trailing space, 7 of framing).
        assert!(p.fits(f, 1000, 5000).is_ok());
        assert_eq!(p.counted.lock().len(), 1);
        let err = p.fits(f, 1000, 2500).unwrap_err();
        assert_eq!(
            err,
            TokenCount {
                tokens: 3008,
                exact: true
            }
        );
        assert_eq!(p.counted.lock().len(), 1, "counted once");
    }
}
