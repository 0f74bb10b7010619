//! Prompt token counts of a chat request for one model family: OpenAI's
//! documented chat-format rules (tokens per message and per name, the reply
//! priming, tool definitions as OpenAI's cookbook approximates them, image
//! tokens from the vision guide) on the real encoding, and the documented
//! approximations for other families.

use serde_json::Value;

use super::bpe::{self, Encoding};
use super::family::{Family, ImageRule};
use super::{TokenCount, estimate_text};
use crate::types::{ChatRequest, Part, ResponseFormat, Role, Tool};

/// Tokens every message costs beyond its content (`<|start|>role…<|end|>`).
const PER_MESSAGE: i64 = 3;
/// A message's `name` costs one token beyond its text.
const PER_NAME: i64 = 1;
/// Every reply is primed with `<|start|>assistant<|message|>`.
const REPLY_PRIMING: i64 = 3;
/// Approximate cost of an assistant tool call beyond its name and arguments.
const PER_TOOL_CALL: i64 = 7;

/// Images of unknown size are assumed to be 1024×1024: four 512-px tiles
/// after OpenAI's scaling (shortest side to 768), 1024 32-px patches.
const ASSUMED_TILES: u64 = 4;
const ASSUMED_PATCHES: u64 = 1024;
/// Claude: about width×height/750, at most ~1600 for a full-size image.
const CLAUDE_IMAGE: i64 = 1600;
/// Gemini: 1120 at Gemini 3's default image resolution (Gemini 2.x: 258 per
/// 768-px tile, 1032 for 1024×1024).
const GEMINI_IMAGE: i64 = 1120;
/// Other families: an assumed 1024×1024 image at gpt-4o's rate.
const OTHER_IMAGE: i64 = 765;

/// Accumulates a count and whether it is still exact.
struct Counter {
    enc: Encoding,
    tokens: i64,
    exact: bool,
}

impl Counter {
    fn text(&mut self, s: &str) {
        if s.is_empty() {
            return;
        }
        match bpe::count(self.enc, s) {
            Some((n, exact)) => {
                self.tokens += n as i64;
                self.exact &= exact;
            }
            None => {
                self.tokens += estimate_text(s) as i64;
                self.exact = false;
            }
        }
    }

    fn fixed(&mut self, n: i64) {
        self.tokens += n;
    }

    /// What follows is an approximation.
    fn approx(&mut self, n: i64) {
        self.tokens += n;
        self.exact = false;
    }
}

/// Prompt tokens of `req` for a model of `family`.
pub fn count_prompt_in(family: Family, req: &ChatRequest) -> TokenCount {
    let mut c = Counter {
        enc: family.encoding(),
        tokens: REPLY_PRIMING,
        exact: family.exact_capable(),
    };
    let openai = matches!(family, Family::OpenAi { .. } | Family::OpenAiLike(_));
    for m in &req.messages {
        c.fixed(PER_MESSAGE);
        c.text(m.role.as_str());
        let mut texts = 0;
        for p in &m.content {
            match p {
                Part::Text(t) => {
                    texts += 1;
                    c.text(t);
                }
                // OpenAI-style encoders do not send reasoning back.
                Part::Thinking { .. } if openai => {}
                Part::Thinking { text, .. } => c.text(text),
                Part::Image { detail, .. } => image(&mut c, family, detail.as_deref()),
            }
        }
        if texts > 1 {
            // How several text parts join on the wire is not documented.
            c.exact = false;
        }
        if let Some(name) = &m.name {
            c.text(name);
            c.fixed(PER_NAME);
        }
        for call in &m.tool_calls {
            c.text(&call.name);
            c.text(&call.arguments);
            c.approx(PER_TOOL_CALL);
        }
        if m.role == Role::Tool {
            // The call id and the result framing are not documented.
            c.exact = false;
        }
    }
    if !req.tools.is_empty() {
        if openai {
            openai_tools(&mut c, &req.tools);
        } else {
            for t in &req.tools {
                c.text(&t.name);
                c.text(t.description.as_deref().unwrap_or(""));
                c.text(&t.parameters.to_string());
                c.approx(8);
            }
        }
        c.exact = false;
    }
    if let Some(ResponseFormat::JsonSchema { schema, .. }) = &req.response_format {
        c.text(&schema.to_string());
        c.exact = false;
    }
    TokenCount {
        tokens: c.tokens.max(0) as u64,
        exact: c.exact,
    }
}

/// One input image.
fn image(c: &mut Counter, family: Family, detail: Option<&str>) {
    match family {
        Family::OpenAi { images, .. } => match images {
            // `low` is a fixed cost, whatever the size.
            ImageRule::Tiles { base, .. } if detail == Some("low") => c.fixed(base as i64),
            ImageRule::Tiles { base, tile } => c.approx((base + ASSUMED_TILES * tile) as i64),
            ImageRule::Patches { milli } => {
                c.approx((ASSUMED_PATCHES * milli).div_ceil(1000) as i64)
            }
        },
        Family::OpenAiLike(_) | Family::Other => c.approx(OTHER_IMAGE),
        Family::Anthropic => c.approx(CLAUDE_IMAGE),
        Family::Gemini => c.approx(GEMINI_IMAGE),
    }
}

/// Tool definitions as OpenAI's cookbook counts them ("How to count tokens
/// with tiktoken", function calling): per function a fixed start, its
/// `name:description` line, and per property `name:type:description` plus
/// enum items; one fixed end. An approximation by OpenAI's own account.
fn openai_tools(c: &mut Counter, tools: &[Tool]) {
    let (func_init, prop_init, prop_key, enum_init, enum_item, func_end) = match c.enc {
        Encoding::O200k => (7, 3, 3, -3, 3, 12),
        Encoding::Cl100k => (10, 3, 3, -3, 3, 12),
    };
    for t in tools {
        c.fixed(func_init);
        let desc = t.description.as_deref().unwrap_or("");
        let desc = desc.strip_suffix('.').unwrap_or(desc);
        c.text(&format!("{}:{desc}", t.name));
        let Some(props) = t.parameters.get("properties").and_then(Value::as_object) else {
            continue;
        };
        if props.is_empty() {
            continue;
        }
        c.fixed(prop_init);
        for (key, p) in props {
            c.fixed(prop_key);
            if let Some(items) = p.get("enum").and_then(Value::as_array) {
                c.fixed(enum_init);
                for item in items {
                    c.fixed(enum_item);
                    match item.as_str() {
                        Some(s) => c.text(s),
                        None => c.text(&item.to_string()),
                    }
                }
            }
            let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
            let d = p.get("description").and_then(Value::as_str).unwrap_or("");
            let d = d.strip_suffix('.').unwrap_or(d);
            c.text(&format!("{key}:{ty}:{d}"));
        }
    }
    c.fixed(func_end);
}

/// An upper bound of [`count_prompt_in`] for every family, from sizes alone
/// (no tokenizing): a byte-level BPE token covers at least one byte.
pub fn upper_bound(req: &ChatRequest) -> u64 {
    /// The largest per-image count of any family (gpt-4o-mini, 1024×1024).
    const MAX_IMAGE: u64 = 2833 + ASSUMED_TILES * 5667;
    let mut n = REPLY_PRIMING as u64;
    for m in &req.messages {
        n += 8 + m.name.as_ref().map_or(0, |s| s.len() as u64 + 1);
        for p in &m.content {
            n += match p {
                Part::Text(t) => t.len() as u64,
                Part::Thinking { text, .. } => text.len() as u64,
                Part::Image { .. } => MAX_IMAGE,
            };
        }
        for call in &m.tool_calls {
            n += (call.name.len() + call.arguments.len()) as u64 + PER_TOOL_CALL as u64;
        }
    }
    for t in &req.tools {
        n += 44
            + (t.name.len() + t.description.as_ref().map_or(0, String::len)) as u64
            + json_len(&t.parameters);
    }
    if let Some(ResponseFormat::JsonSchema { schema, .. }) = &req.response_format {
        n += json_len(schema);
    }
    n
}

/// Bytes of `v` as compact JSON, without building the text.
fn json_len(v: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    // Writing to a counter cannot fail; a failure would only shrink the bound.
    let _ = serde_json::to_writer(&mut c, v);
    c.0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tokens::family::family;
    use crate::types::{ImageSource, Message, ToolCall};

    fn msgs(m: Vec<Message>) -> ChatRequest {
        ChatRequest {
            messages: m,
            ..Default::default()
        }
    }

    fn count(model: &str, req: &ChatRequest) -> TokenCount {
        count_prompt_in(family(model), req)
    }

    /// The OpenAI cookbook's example conversation: 129 prompt tokens on
    /// gpt-3.5/gpt-4 (cl100k) and 124 on gpt-4o (o200k), as the API reports.
    fn cookbook() -> ChatRequest {
        let sys = |t: &str| Message::text(Role::System, t);
        let mut ex_user = sys("New synergies will help drive top-line growth.");
        ex_user.name = Some("example_user".into());
        let mut ex_bot = sys("Things working well together will increase revenue.");
        ex_bot.name = Some("example_assistant".into());
        let mut ex_user2 = sys(
            "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.",
        );
        ex_user2.name = Some("example_user".into());
        let mut ex_bot2 = sys("Let's talk later when we're less busy about how to do better.");
        ex_bot2.name = Some("example_assistant".into());
        msgs(vec![
            sys(
                "You are a helpful, pattern-following assistant that translates corporate jargon into plain English.",
            ),
            ex_user,
            ex_bot,
            ex_user2,
            ex_bot2,
            Message::text(
                Role::User,
                "This late pivot means we don't have time to boil the ocean for the client deliverable.",
            ),
        ])
    }

    #[test]
    fn chat_format_rules_match_the_cookbook() {
        let r = cookbook();
        assert_eq!(
            count("gpt-4", &r),
            TokenCount {
                tokens: 129,
                exact: true
            }
        );
        assert_eq!(
            count("gpt-3.5-turbo", &r),
            TokenCount {
                tokens: 129,
                exact: true
            }
        );
        assert_eq!(
            count("gpt-4o", &r),
            TokenCount {
                tokens: 124,
                exact: true
            }
        );
        assert_eq!(
            count("gpt-4o-mini", &r),
            TokenCount {
                tokens: 124,
                exact: true
            }
        );
    }

    #[test]
    fn other_families_are_estimates() {
        let r = cookbook();
        for m in [
            "claude-sonnet-4-5",
            "gemini-2.5-flash",
            "llama-3.3-70b",
            "gpt-oss-20b",
        ] {
            let c = count(m, &r);
            assert!(!c.exact, "{m}");
            assert!((100..200).contains(&c.tokens), "{m}: {}", c.tokens);
        }
    }

    #[test]
    fn images_by_detail_and_model() {
        let img = |detail: Option<&str>| {
            msgs(vec![Message::new(
                Role::User,
                vec![Part::Image {
                    source: ImageSource::Url("https://x/y.png".into()),
                    detail: detail.map(str::to_string),
                }],
            )])
        };
        // priming 3 + message 3 + role "user" 1 + image.
        assert_eq!(
            count("gpt-4o", &img(Some("low"))),
            TokenCount {
                tokens: 7 + 85,
                exact: true
            }
        );
        assert_eq!(
            count("gpt-4o", &img(None)),
            TokenCount {
                tokens: 7 + 765,
                exact: false
            }
        );
        assert_eq!(count("gpt-4o-mini", &img(Some("low"))).tokens, 7 + 2833);
        assert_eq!(count("o4-mini", &img(None)).tokens, 7 + 1762);
        assert!(!count("claude-haiku-4-5", &img(None)).exact);
    }

    #[test]
    fn tools_follow_the_cookbook_and_are_approximate() {
        let tool = Tool {
            name: "get_current_weather".into(),
            description: Some("Get the current weather in a given location".into()),
            parameters: json!({"type": "object", "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}
            }, "required": ["location"]}),
            strict: None,
        };
        let mut r = msgs(vec![Message::text(
            Role::User,
            "What's the weather like in San Francisco?",
        )]);
        let base = count("gpt-4o", &r);
        r.tools = vec![tool];
        let with = count("gpt-4o", &r);
        assert!(!with.exact);
        // func_init 7 + prop_init 3 + 2 × prop_key 3 + enum (-3 + 2 × 3) + func_end 12
        // = 31 fixed, plus the text of three lines and two enum items.
        let added = with.tokens - base.tokens;
        assert!((45..75).contains(&added), "{added}");
    }

    #[test]
    fn tool_calls_and_results_are_approximate() {
        let mut a = Message::new(Role::Assistant, vec![]);
        a.tool_calls = vec![ToolCall {
            id: "c1".into(),
            name: "f".into(),
            arguments: "{\"x\":1}".into(),
        }];
        let c = count("gpt-4o", &msgs(vec![a]));
        assert!(!c.exact && c.tokens > 10);
        let mut t = Message::text(Role::Tool, "42");
        t.tool_call_id = Some("c1".into());
        assert!(!count("gpt-4o", &msgs(vec![t])).exact);
    }

    #[test]
    fn json_len_is_the_compact_text_length() {
        let v = json!({"a": [1, "x\"y"], "b": {"c": null}});
        assert_eq!(json_len(&v), v.to_string().len() as u64);
    }

    #[test]
    fn the_bound_is_above_every_family_count() {
        let mut r = cookbook();
        r.messages.push(Message::new(
            Role::User,
            vec![Part::Image {
                source: ImageSource::Url("https://x".into()),
                detail: None,
            }],
        ));
        r.tools = vec![Tool {
            name: "f".into(),
            description: Some("d".into()),
            parameters: json!({"type": "object", "properties": {"a": {"type": "string", "enum": ["x", "y"]}}}),
            strict: None,
        }];
        let bound = upper_bound(&r);
        for m in [
            "gpt-4o",
            "gpt-4o-mini",
            "gpt-4",
            "o4-mini",
            "claude-opus-4-1",
            "gemini-2.5-pro",
            "mistral-large",
        ] {
            let c = count(m, &r);
            assert!(c.tokens <= bound, "{m}: {} > {bound}", c.tokens);
        }
    }
}
