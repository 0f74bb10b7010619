//! Streamed answers as provider-neutral events. Provider decoders produce
//! them chunk by chunk; inbound encoders turn them into the caller's wire
//! format. [`StreamAccumulator`] rebuilds a whole answer from them.

use super::{AssistantMessage, ChatResponse, Choice, FinishReason, ToolCall, Usage};

/// One step of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The answer started (always first): id and model as the provider gives them.
    Start {
        id: String,
        model: String,
        created: u64,
    },
    /// Answer text.
    Text { choice: u32, text: String },
    /// Reasoning text, and (at its end, Anthropic) its signature.
    Reasoning {
        choice: u32,
        text: String,
        signature: Option<String>,
    },
    /// A piece of a tool call. `index` counts tool calls within the choice
    /// from 0; the first piece of a call carries its `id` and `name`, later
    /// ones only more `arguments` text.
    ToolCall {
        choice: u32,
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    /// A choice ended.
    Finish {
        choice: u32,
        reason: FinishReason,
        stop_sequence: Option<String>,
    },
    /// Token usage (possibly partial; later reports supersede earlier ones).
    Usage(Usage),
}

/// Rebuilds a [`ChatResponse`] from stream events (for caching a streamed
/// answer, or answering a non-streaming caller from a streaming provider).
#[derive(Debug, Default)]
pub struct StreamAccumulator {
    id: String,
    model: String,
    created: u64,
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

impl StreamAccumulator {
    fn choice(&mut self, i: u32) -> &mut Choice {
        while self.choices.len() <= i as usize {
            let index = self.choices.len() as u32;
            self.choices.push(Choice {
                index,
                message: AssistantMessage::default(),
                finish_reason: None,
                stop_sequence: None,
                logprobs: None,
            });
        }
        &mut self.choices[i as usize]
    }

    pub fn push(&mut self, ev: &StreamEvent) {
        match ev {
            StreamEvent::Start { id, model, created } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
                self.created = *created;
            }
            StreamEvent::Text { choice, text } => {
                self.choice(*choice)
                    .message
                    .content
                    .get_or_insert_with(String::new)
                    .push_str(text);
            }
            StreamEvent::Reasoning {
                choice,
                text,
                signature,
            } => {
                let m = &mut self.choice(*choice).message;
                m.reasoning.get_or_insert_with(String::new).push_str(text);
                if signature.is_some() {
                    m.reasoning_signature.clone_from(signature);
                }
            }
            StreamEvent::ToolCall {
                choice,
                index,
                id,
                name,
                arguments,
            } => {
                let calls = &mut self.choice(*choice).message.tool_calls;
                while calls.len() <= *index as usize {
                    calls.push(ToolCall {
                        id: String::new(),
                        name: String::new(),
                        arguments: String::new(),
                    });
                }
                let c = &mut calls[*index as usize];
                if let Some(id) = id {
                    c.id.clone_from(id);
                }
                if let Some(n) = name {
                    c.name.push_str(n);
                }
                c.arguments.push_str(arguments);
            }
            StreamEvent::Finish {
                choice,
                reason,
                stop_sequence,
            } => {
                let c = self.choice(*choice);
                c.finish_reason = Some(*reason);
                c.stop_sequence.clone_from(stop_sequence);
            }
            StreamEvent::Usage(u) => match &mut self.usage {
                Some(have) => have.merge(u),
                None => self.usage = Some(*u),
            },
        }
    }

    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    pub fn finish(mut self) -> ChatResponse {
        if self.choices.is_empty() {
            self.choice(0);
        }
        ChatResponse {
            id: self.id,
            model: self.model,
            created: self.created,
            choices: self.choices,
            usage: self.usage,
            system_fingerprint: None,
        }
    }
}

/// The events that stream `resp` (to answer a streaming caller from a whole
/// answer: a cache hit, a provider without streaming).
pub fn response_events(resp: &ChatResponse) -> Vec<StreamEvent> {
    let mut out = vec![StreamEvent::Start {
        id: resp.id.clone(),
        model: resp.model.clone(),
        created: resp.created,
    }];
    for c in &resp.choices {
        if let Some(r) = &c.message.reasoning {
            out.push(StreamEvent::Reasoning {
                choice: c.index,
                text: r.clone(),
                signature: c.message.reasoning_signature.clone(),
            });
        }
        if let Some(t) = &c.message.content {
            out.push(StreamEvent::Text {
                choice: c.index,
                text: t.clone(),
            });
        }
        for (i, tc) in c.message.tool_calls.iter().enumerate() {
            out.push(StreamEvent::ToolCall {
                choice: c.index,
                index: i as u32,
                id: Some(tc.id.clone()),
                name: Some(tc.name.clone()),
                arguments: tc.arguments.clone(),
            });
        }
        out.push(StreamEvent::Finish {
            choice: c.index,
            reason: c.finish_reason.unwrap_or(FinishReason::Stop),
            stop_sequence: c.stop_sequence.clone(),
        });
    }
    if let Some(u) = resp.usage {
        out.push(StreamEvent::Usage(u));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accumulates_split_tool_calls_and_round_trips() {
        let evs = [
            StreamEvent::Start {
                id: "r1".into(),
                model: "m".into(),
                created: 5,
            },
            StreamEvent::Text {
                choice: 0,
                text: "Hel".into(),
            },
            StreamEvent::Text {
                choice: 0,
                text: "lo".into(),
            },
            StreamEvent::ToolCall {
                choice: 0,
                index: 0,
                id: Some("c1".into()),
                name: Some("get".into()),
                arguments: "{\"a\":".into(),
            },
            StreamEvent::ToolCall {
                choice: 0,
                index: 1,
                id: Some("c2".into()),
                name: Some("put".into()),
                arguments: String::new(),
            },
            StreamEvent::ToolCall {
                choice: 0,
                index: 0,
                id: None,
                name: None,
                arguments: "1}".into(),
            },
            StreamEvent::Finish {
                choice: 0,
                reason: FinishReason::ToolCalls,
                stop_sequence: None,
            },
            StreamEvent::Usage(Usage {
                input_tokens: 3,
                output_tokens: 4,
                ..Default::default()
            }),
        ];
        let mut acc = StreamAccumulator::default();
        evs.iter().for_each(|e| acc.push(e));
        let resp = acc.finish();
        let m = &resp.choices[0].message;
        assert_eq!(m.content.as_deref(), Some("Hello"));
        assert_eq!(m.tool_calls[0].arguments, "{\"a\":1}");
        assert_eq!(m.tool_calls[1].name, "put");
        assert_eq!(resp.usage.unwrap().total(), 7);
        let again = response_events(&resp);
        let mut acc2 = StreamAccumulator::default();
        again.iter().for_each(|e| acc2.push(e));
        assert_eq!(acc2.finish(), resp);
    }
}
