//! [`Tracker`]: follows one AI call to its end and leaves its [`AiRecord`]
//! (tokens, cost, time to first token, finish reason) in the request's slot.
//! Provider-reported usage wins; without it, tokens are estimated and the
//! record says so.

use std::sync::Arc;
use std::time::Instant;

use pylon_telemetry::{AiRecord, AiRecordSlot, put_ai_record};

use crate::catalog::ModelInfo;
use crate::error::AiError;
use crate::router::InFlight;
use crate::types::{ChatResponse, FinishReason, StreamEvent, Usage};

/// The record of one AI call while it runs.
pub struct Tracker {
    slot: AiRecordSlot,
    pub rec: AiRecord,
    start: Instant,
    /// Estimated prompt tokens, used when the provider reports none.
    prompt_estimate: u64,
    /// Output characters seen (for an estimate when usage is missing).
    output_text: String,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    price: Option<Arc<ModelInfo>>,
    images: u32,
    in_flight: Option<InFlight>,
    first_token_seen: bool,
    /// Guardrail decisions, read when the call ends (output checks run until then).
    pub guard_log: Option<Arc<parking_lot::Mutex<crate::guard::Decisions>>>,
}

impl Tracker {
    pub fn new(slot: AiRecordSlot, rec: AiRecord, start: Instant) -> Self {
        Self {
            slot,
            rec,
            start,
            prompt_estimate: 0,
            output_text: String::new(),
            usage: None,
            finish: None,
            price: None,
            images: 0,
            in_flight: None,
            first_token_seen: false,
            guard_log: None,
        }
    }

    /// What estimates fall back on: the prompt's token estimate and images.
    pub fn set_prompt(&mut self, estimate: u64, images: u32) {
        self.prompt_estimate = estimate;
        self.images = images;
        self.rec.input_images = images;
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
            StreamEvent::Text { text, .. } | StreamEvent::Reasoning { text, .. } => {
                self.first_token();
                self.output_text.push_str(text);
            }
            StreamEvent::ToolCall {
                name, arguments, ..
            } => {
                self.first_token();
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
        for c in &resp.choices {
            if let Some(t) = &c.message.content {
                self.output_text.push_str(t);
            }
            for t in &c.message.tool_calls {
                self.output_text.push_str(&t.name);
                self.output_text.push_str(&t.arguments);
            }
        }
        self.close();
    }

    /// The streamed answer ended properly.
    pub fn complete(mut self) {
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

    /// Usage for the record: the provider's, or estimates.
    pub fn final_usage(&self) -> (Usage, bool) {
        match self.usage {
            Some(u) if u.input_tokens > 0 || u.output_tokens > 0 => (u, false),
            _ => (
                Usage {
                    input_tokens: self.prompt_estimate,
                    output_tokens: crate::tokens::estimate_text(&self.output_text),
                    ..Default::default()
                },
                true,
            ),
        }
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
        self.in_flight = None;
        put_ai_record(&self.slot, std::mem::take(&mut self.rec));
    }
}
