//! Guardrails on AI calls: sensitive-data detection on what goes to the
//! model (and optionally on what comes back) with mask, block or log per
//! rule; reversible masking (placeholders to the provider, originals restored
//! in the answer, streams included); prompt-injection heuristics; deny lists;
//! a maximum prompt size. Every decision is counted into the call record.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;
use pylon_config::{GuardAction, GuardScope, GuardrailsConfig};
use regex::Regex;

use crate::error::{AiError, ErrorClass};
use crate::types::{ChatRequest, ChatResponse, Part, Role};

pub mod detect;
pub mod filter;
pub mod injection;

pub use filter::GuardFilter;

type Detector = Box<dyn Fn(&str) -> detect::Spans + Send + Sync>;

struct Rule {
    label: String,
    placeholder: String,
    detect: Detector,
    action: GuardAction,
    scope: GuardScope,
}

impl Rule {
    fn input(&self) -> bool {
        matches!(self.scope, GuardScope::Input | GuardScope::Both)
    }

    fn output(&self) -> bool {
        matches!(self.scope, GuardScope::Output | GuardScope::Both)
    }
}

/// Compiled guardrails.
pub struct Guard {
    rules: Vec<Rule>,
    reversible: bool,
    injection: Option<GuardAction>,
    deny: Option<Regex>,
    max_input_tokens: Option<u64>,
}

/// Decisions of one call, for the record: `(rule, action) → count`.
#[derive(Debug, Default)]
pub struct Decisions(BTreeMap<(String, &'static str), u32>);

impl Decisions {
    pub fn add(&mut self, rule: &str, what: &'static str, n: u32) {
        if n > 0 {
            *self.0.entry((rule.to_string(), what)).or_default() += n;
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|((r, w), n)| format!("{r}:{w}:{n}"))
            .collect()
    }
}

/// The per-call state: placeholders handed out, and the decisions so far.
#[derive(Default)]
pub struct GuardState {
    /// placeholder → original (reversible masking).
    pub vault: HashMap<String, String>,
    by_value: HashMap<(String, String), String>,
    counters: HashMap<String, u32>,
    pub decisions: Arc<Mutex<Decisions>>,
}

impl GuardState {
    fn placeholder(&mut self, rule: &Rule, value: &str, reversible: bool) -> String {
        if !reversible {
            return format!("[{}]", rule.placeholder);
        }
        let key = (rule.placeholder.clone(), value.to_string());
        if let Some(p) = self.by_value.get(&key) {
            return p.clone();
        }
        let n = self.counters.entry(rule.placeholder.clone()).or_default();
        *n += 1;
        let p = format!("[{}_{n}]", rule.placeholder);
        self.vault.insert(p.clone(), value.to_string());
        self.by_value.insert(key, p.clone());
        p
    }
}

fn builtin(name: &str) -> Option<fn(&str) -> detect::Spans> {
    Some(match name {
        "email" => detect::email,
        "phone" => detect::phone,
        "credit_card" => detect::credit_card,
        "iban" => detect::iban,
        "national_id" => detect::national_id,
        "ip_address" => detect::ip_address,
        "secret" => detect::secret,
        _ => return None,
    })
}

fn blocked(what: &str) -> AiError {
    let mut e = AiError::new(
        ErrorClass::InvalidRequest,
        format!("the request was blocked by guardrail `{what}`"),
    );
    e.code = Some("guardrail_blocked".into());
    e
}

impl Guard {
    pub fn compile(cfg: &GuardrailsConfig) -> Result<Self, String> {
        let mut rules = Vec::new();
        for r in &cfg.pii {
            let label = r.name.clone().unwrap_or_else(|| r.detector.clone());
            let detect: Detector = match (r.detector.as_str(), &r.pattern) {
                ("custom", Some(p)) => {
                    let re = Regex::new(p).map_err(|e| format!("pattern `{p}`: {e}"))?;
                    Box::new(move |t: &str| re.find_iter(t).map(|m| (m.start(), m.end())).collect())
                }
                (d, _) => {
                    let f = builtin(d).ok_or_else(|| format!("unknown detector `{d}`"))?;
                    Box::new(f)
                }
            };
            rules.push(Rule {
                placeholder: label.to_ascii_uppercase(),
                label,
                detect,
                action: r.action,
                scope: r.on,
            });
        }
        let deny = if cfg.deny.is_empty() {
            None
        } else {
            let alts: Vec<String> = cfg.deny.iter().map(|w| regex::escape(w.trim())).collect();
            Some(
                Regex::new(&format!(r"(?i)\b(?:{})\b", alts.join("|")))
                    .map_err(|e| e.to_string())?,
            )
        };
        Ok(Self {
            rules,
            reversible: cfg.reversible,
            injection: cfg.injection,
            deny,
            max_input_tokens: cfg.max_input_tokens,
        })
    }

    /// Whether answers need a stream filter (restoring placeholders, or
    /// scanning output).
    pub fn filters_output(&self) -> bool {
        self.reversible || self.rules.iter().any(Rule::output)
    }

    /// Check and mask the request in place.
    pub fn apply_input(
        &self,
        req: &mut ChatRequest,
        state: &mut GuardState,
    ) -> Result<(), AiError> {
        if let Some(max) = self.max_input_tokens {
            let n = crate::tokens::estimate_prompt(req);
            if n > max {
                state.decisions.lock().add("max_input_tokens", "blocked", 1);
                let mut e = blocked("max_input_tokens");
                e.message =
                    format!("the prompt has about {n} tokens, above this route's limit of {max}");
                return Err(e);
            }
        }
        for m in &mut req.messages {
            // The operator's own instructions are not the caller's input.
            let from_caller = !m.role.is_instruction();
            for p in &mut m.content {
                let Part::Text(text) = p else { continue };
                if from_caller && matches!(m.role, Role::User | Role::Tool) {
                    if let Some(d) = &self.deny
                        && d.is_match(text)
                    {
                        state.decisions.lock().add("deny", "blocked", 1);
                        return Err(blocked("deny"));
                    }
                    if let Some(action) = self.injection
                        && injection::suspicious(text)
                    {
                        if action == GuardAction::Block {
                            state.decisions.lock().add("injection", "blocked", 1);
                            return Err(blocked("injection"));
                        }
                        state.decisions.lock().add("injection", "flagged", 1);
                    }
                }
                *text = self.scan(text, state, Rule::input, self.reversible)?;
            }
        }
        Ok(())
    }

    /// Apply the rules selected by `which` to `text`: masks replaced, blocks
    /// refused, logs counted.
    fn scan(
        &self,
        text: &str,
        state: &mut GuardState,
        which: fn(&Rule) -> bool,
        reversible: bool,
    ) -> Result<String, AiError> {
        let mut spans: Vec<(usize, usize, usize)> = Vec::new();
        for (ri, r) in self.rules.iter().enumerate().filter(|(_, r)| which(r)) {
            for (a, b) in (r.detect)(text) {
                if spans.iter().any(|&(x, y, _)| a < y && x < b) {
                    continue;
                }
                match r.action {
                    GuardAction::Block => {
                        state.decisions.lock().add(&r.label, "blocked", 1);
                        return Err(blocked(&r.label));
                    }
                    GuardAction::Log => state.decisions.lock().add(&r.label, "logged", 1),
                    GuardAction::Mask => spans.push((a, b, ri)),
                }
            }
        }
        if spans.is_empty() {
            return Ok(text.to_string());
        }
        spans.sort_unstable();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (a, b, ri) in spans {
            let r = &self.rules[ri];
            out.push_str(&text[at..a]);
            out.push_str(&state.placeholder(r, &text[a..b], reversible));
            state.decisions.lock().add(&r.label, "masked", 1);
            at = b;
        }
        out.push_str(&text[at..]);
        Ok(out)
    }

    /// Output text: placeholders restored, output rules applied.
    pub fn apply_output_text(&self, text: &str, state: &mut GuardState) -> Result<String, AiError> {
        let restored = restore(text, &state.vault);
        self.scan(&restored, state, Rule::output, false)
            .map_err(|mut e| {
                e.class = ErrorClass::ContentFilter;
                e.status = http::StatusCode::BAD_GATEWAY;
                e.code = Some("guardrail_blocked_output".into());
                e.message = e.message.replace("the request was", "the answer was");
                e
            })
    }

    /// A whole answer: placeholders restored, output rules applied.
    pub fn apply_output(
        &self,
        resp: &mut ChatResponse,
        state: &mut GuardState,
    ) -> Result<(), AiError> {
        for c in &mut resp.choices {
            if let Some(t) = &c.message.content {
                c.message.content = Some(self.apply_output_text(t, state)?);
            }
            for call in &mut c.message.tool_calls {
                call.arguments = restore(&call.arguments, &state.vault);
            }
        }
        Ok(())
    }
}

/// Replace every placeholder of `vault` found in `text` by its original.
pub fn restore(text: &str, vault: &HashMap<String, String>) -> String {
    if vault.is_empty() || !text.contains('[') {
        return text.to_string();
    }
    let mut out = text.to_string();
    for (p, v) in vault {
        if out.contains(p.as_str()) {
            out = out.replace(p.as_str(), v);
        }
    }
    out
}

#[cfg(test)]
mod tests;
