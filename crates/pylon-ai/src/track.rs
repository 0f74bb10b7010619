//! [`Tracker`]: follows one AI call to its end and leaves its [`AiRecord`]
//! (tokens, cost, time to first token, finish reason) in the request's slot.
//! Provider-reported usage wins; without it, Pylon counts the prompt and the
//! answer it relayed with the model's tokenizer, and `tokens_estimated` says
//! whether that count is exact (see docs/ai/catalog.md, "Token counts").

use std::sync::Arc;
use std::time::Instant;

use pylon_telemetry::{AiRecord, AiRecordSlot, put_ai_record};

use crate::catalog::ModelInfo;
use crate::error::AiError;
use crate::router::InFlight;
use crate::tokens::{Family, TokenCount};
use crate::types::{ChatRequest, ChatResponse, FinishReason, StreamEvent, Usage};

/// The record of one AI call while it runs.
pub struct Tracker {
    slot: AiRecordSlot,
    pub rec: AiRecord,
    start: Instant,
    /// The prompt without image bytes, counted only when the provider
    /// reports no usage.
    prompt: Option<ChatRequest>,
    /// Output text relayed (counted when usage is missing).
    output_text: String,
    /// The output holds more than plain text of one choice (tool calls,
    /// reasoning, several choices): its count is an approximation.
    output_mixed: bool,
    /// The answer ended properly (a cut answer's count is a lower bound).
    completed: bool,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    price: Option<Arc<ModelInfo>>,
    images: u32,
    in_flight: Option<InFlight>,
    first_token_seen: bool,
    /// Guardrail decisions, read when the call ends (output checks run until then).
    pub guard_log: Option<Arc<parking_lot::Mutex<crate::guard::Decisions>>>,
    /// The call's budget and limit reservations, settled when it ends.
    pub admission: Option<crate::govern::Admission>,
}

impl Tracker {
    pub fn new(slot: AiRecordSlot, rec: AiRecord, start: Instant) -> Self {
        Self {
            slot,
            rec,
            start,
            prompt: None,
            output_text: String::new(),
            output_mixed: false,
            completed: false,
            usage: None,
            finish: None,
            price: None,
            images: 0,
            in_flight: None,
            first_token_seen: false,
            guard_log: None,
            admission: None,
        }
    }

    /// The call's prompt: kept (without image bytes) for a count should the
    /// provider report no usage; its images are recorded and priced.
    pub fn set_prompt(&mut self, req: &ChatRequest) {
        self.prompt = Some(crate::tokens::for_counting(req));
        self.images = req.image_count();
        self.rec.input_images = self.images;
    }

    /// The call is served by a deployment with these prices; `in_flight` is
    /// held (counting the deployment busy) until the call ends.
    pub fn served(&mut self, price: Option<Arc<ModelInfo>>, in_flight: Option<InFlight>) {
        self.price = price;
        self.in_flight = in_flight;
    }

    /// Milliseconds since the request started.
    fn elapsed_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1e3
    }

    /// One streamed event went to the client.
    pub fn event(&mut self, ev: &StreamEvent) {
        match ev {
            StreamEvent::Text { text, choice } => {
                self.first_token();
                self.output_mixed |= *choice != 0;
                self.output_text.push_str(text);
            }
            StreamEvent::Reasoning { text, .. } => {
                self.first_token();
                self.output_mixed = true;
                self.output_text.push_str(text);
            }
            StreamEvent::ToolCall {
                name, arguments, ..
            } => {
                self.first_token();
                self.output_mixed = true;
                if let Some(n) = name {
                    self.output_text.push_str(n);
                }
                self.output_text.push_str(arguments);
            }
            StreamEvent::Finish { reason, .. } => self.finish = Some(*reason),
            StreamEvent::Usage(u) => match &mut self.usage {
                Some(have) => have.merge(u),
                None => self.usage = Some(*u),
            },
            StreamEvent::Start { .. } => {}
        }
    }

    fn first_token(&mut self) {
        if !self.first_token_seen {
            self.first_token_seen = true;
            let ms = self.elapsed_ms();
            self.rec.ttft_ms = Some(ms);
            if let Some(f) = &self.in_flight {
                f.observe_ttft(ms);
            }
        }
    }

    /// A whole answer was sent.
    pub fn whole(mut self, resp: &ChatResponse) {
        if !self.first_token_seen {
            self.first_token_seen = true;
            let ms = self.elapsed_ms();
            self.rec.ttft_ms = Some(ms);
            if let Some(f) = &self.in_flight {
                f.observe_ttft(ms);
            }
        }
        self.usage = resp.usage;
        self.finish = resp.choices.first().and_then(|c| c.finish_reason);
        self.completed = true;
        self.output_mixed |= resp.choices.len() > 1;
        for c in &resp.choices {
            if let Some(t) = &c.message.content {
                self.output_text.push_str(t);
            }
            if let Some(t) = &c.message.reasoning {
                self.output_mixed = true;
                self.output_text.push_str(t);
            }
            for t in &c.message.tool_calls {
                self.output_mixed = true;
                self.output_text.push_str(&t.name);
                self.output_text.push_str(&t.arguments);
            }
        }
        self.close();
    }

    /// The streamed answer ended properly.
    pub fn complete(mut self) {
        self.completed = true;
        self.close();
    }

    /// The answer failed midway.
    pub fn fail(mut self, e: &AiError) {
        self.rec.error_class = Some(e.class.as_str());
        self.close();
    }

    /// The client went away before the end.
    pub fn abort(mut self) {
        if self.rec.error_class.is_none() {
            self.rec.error_class = Some("client_aborted");
        }
        self.close();
    }

    fn guard_lines(&mut self) {
        if let Some(g) = &self.guard_log {
            self.rec.guardrails = g.lock().lines();
        }
    }

    /// The call failed before any answer.
    pub fn failed_before_answer(mut self, e: &AiError) {
        self.guard_lines();
        self.rec.error_class = Some(e.class.as_str());
        if self.rec.input_tokens == 0 && self.usage.is_none() {
            // Nothing was generated; nothing is billed.
            self.rec.tokens_estimated = false;
        }
        put_ai_record(&self.slot, std::mem::take(&mut self.rec));
    }

    /// Usage for the record and whether it is estimated: the provider's as
    /// reported (`false`); without it, Pylon's own counts, estimated unless
    /// both are exact tokenizer counts.
    pub fn final_usage(&self) -> (Usage, bool) {
        match self.usage {
            Some(mut u) if u.input_tokens > 0 || u.output_tokens > 0 => {
                if u.output_tokens == 0 && !self.output_text.is_empty() {
                    // Usage came before the answer (a stream cut after its
                    // first report): the relayed output is counted.
                    u.output_tokens = self.count_output().tokens;
                    return (u, true);
                }
                (u, false)
            }
            _ => {
                let input = self.count_input();
                let output = self.count_output();
                let usage = Usage {
                    input_tokens: input.tokens,
                    output_tokens: output.tokens,
                    ..Default::default()
                };
                (usage, !(input.exact && output.exact))
            }
        }
    }

    /// How the served model's tokens are counted.
    fn family(&self) -> Family {
        let id = match (&self.price, &self.rec.model_served) {
            (Some(m), _) => m.id.as_str(),
            (None, Some(id)) => id.as_str(),
            (None, None) => self.rec.model_requested.as_str(),
        };
        crate::tokens::family_of(self.rec.provider_kind.unwrap_or(""), id)
    }

    fn count_input(&self) -> TokenCount {
        match &self.prompt {
            Some(p) => crate::tokens::count_prompt_in(self.family(), p),
            None => TokenCount::default(),
        }
    }

    /// The relayed output's tokens; exact only for plain text of one choice
    /// that ended properly on a model without hidden reasoning tokens.
    fn count_output(&self) -> TokenCount {
        let mut c = crate::tokens::count_text_in(self.family(), &self.output_text);
        let hidden_reasoning = self.price.as_ref().is_none_or(|m| m.has("reasoning"));
        c.exact &= self.completed && !self.output_mixed && !hidden_reasoning;
        c
    }

    fn close(&mut self) {
        self.guard_lines();
        let (u, estimated) = self.final_usage();
        self.rec.input_tokens = u.input_tokens;
        self.rec.output_tokens = u.output_tokens;
        self.rec.cached_input_tokens = u.cached_input_tokens;
        self.rec.cache_creation_tokens = u.cache_creation_tokens;
        self.rec.reasoning_tokens = u.reasoning_tokens;
        self.rec.tokens_estimated = estimated;
        self.rec.finish_reason = self.finish.map(FinishReason::as_str);
        self.rec.cost_usd = self
            .price
            .as_deref()
            .and_then(|m| crate::cost::cost_usd(m, &u, self.images));
        if let Some(a) = self.admission.take() {
            a.settle(u.input_tokens + u.output_tokens, self.rec.cost_usd);
        }
        self.in_flight = None;
        put_ai_record(&self.slot, std::mem::take(&mut self.rec));
    }
}

#[cfg(test)]
mod tests {
    use pylon_telemetry::{ai_record_slot, take_ai_record};

    use super::*;
    use crate::catalog::Catalog;
    use crate::types::{AssistantMessage, Choice, Message, Role, ToolCall};

    /// A whole answer `text` (and `tool` call) from `model` of `kind`, with
    /// `usage`, through a tracker; the record it leaves.
    fn record(
        kind: &'static str,
        model: &str,
        text: &str,
        tool: bool,
        usage: Option<Usage>,
    ) -> AiRecord {
        let slot = ai_record_slot();
        let rec = AiRecord {
            provider_kind: Some(kind),
            model_served: Some(model.to_string()),
            ..Default::default()
        };
        let mut t = Tracker::new(slot.clone(), rec, Instant::now());
        let req = ChatRequest {
            messages: vec![Message::text(Role::User, "hello world")],
            ..Default::default()
        };
        t.set_prompt(&req);
        let price = Catalog::load(&[]).unwrap().find(kind, model);
        t.served(price, None);
        let tool_calls = if tool {
            vec![ToolCall {
                id: "c".into(),
                name: "f".into(),
                arguments: "{}".into(),
            }]
        } else {
            Vec::new()
        };
        t.whole(&ChatResponse {
            id: "x".into(),
            model: model.into(),
            created: 0,
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage {
                    content: Some(text.into()),
                    tool_calls,
                    ..Default::default()
                },
                finish_reason: Some(FinishReason::Stop),
                stop_sequence: None,
                logprobs: None,
            }],
            usage,
            system_fingerprint: None,
        });
        take_ai_record(&slot).unwrap()
    }

    #[test]
    fn provider_usage_is_never_estimated() {
        let u = Usage {
            input_tokens: 100,
            output_tokens: 7,
            ..Default::default()
        };
        let r = record("openai", "gpt-4o", "hi", false, Some(u));
        assert_eq!(
            (r.input_tokens, r.output_tokens, r.tokens_estimated),
            (100, 7, false)
        );
    }

    #[test]
    fn missing_usage_is_counted_exactly_for_openai_text() {
        // "hello world" as a user message: 9 prompt tokens; "hello world": 2.
        let r = record("openai", "gpt-4o", "hello world", false, None);
        assert_eq!(
            (r.input_tokens, r.output_tokens, r.tokens_estimated),
            (9, 2, false)
        );
        // gpt-4o: $2.50 in, $10 out per million.
        let cost = r.cost_usd.unwrap();
        assert!(
            (cost - (9.0 * 2.5 + 2.0 * 10.0) / 1e6).abs() < 1e-15,
            "{cost}"
        );
    }

    #[test]
    fn missing_usage_is_estimated_where_counts_are_approximate() {
        // Tool calls in the answer.
        assert!(record("openai", "gpt-4o", "x", true, None).tokens_estimated);
        // A reasoning model's hidden reasoning tokens.
        assert!(record("openai", "o3", "hello world", false, None).tokens_estimated);
        // Another family's tokenizer.
        let r = record("anthropic", "claude-sonnet-4-5", "hello world", false, None);
        assert!(r.tokens_estimated && r.input_tokens > 0 && r.output_tokens > 0);
    }
}
