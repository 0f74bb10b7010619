//! Guardrails on streamed answers: text deltas are held back a little
//! (at most [`HOLDBACK`] characters, cut at whitespace) so that a placeholder
//! or a sensitive value split across deltas is still restored or masked as a
//! whole; everything else passes at once.

use std::sync::Arc;

use super::{Guard, GuardState};
use crate::error::AiError;
use crate::stream::EventFilter;
use crate::types::StreamEvent;

/// Most characters held back from a text delta.
pub const HOLDBACK: usize = 48;

pub struct GuardFilter {
    guard: Arc<Guard>,
    state: GuardState,
    /// Per choice: text not yet released.
    pending: Vec<String>,
}

impl GuardFilter {
    pub fn new(guard: Arc<Guard>, state: GuardState) -> Self {
        Self {
            guard,
            state,
            pending: Vec::new(),
        }
    }

    fn release(
        &mut self,
        choice: u32,
        all: bool,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), AiError> {
        let i = choice as usize;
        let Some(p) = self.pending.get_mut(i) else {
            return Ok(());
        };
        let cut = if all {
            p.len()
        } else {
            cut_outside_findings(&self.guard, p, safe_cut(p))
        };
        if cut == 0 {
            return Ok(());
        }
        let head: String = p.drain(..cut).collect();
        let text = self.guard.apply_output_text(&head, &mut self.state)?;
        if !text.is_empty() {
            out.push(StreamEvent::Text { choice, text });
        }
        Ok(())
    }
}

/// Where pending text may be cut: before the last [`HOLDBACK`] characters,
/// at a whitespace, and never inside an unclosed `[` placeholder.
fn safe_cut(p: &str) -> usize {
    let chars = p.chars().count();
    if chars <= HOLDBACK {
        return 0;
    }
    let limit = p
        .char_indices()
        .nth(chars - HOLDBACK)
        .map_or(p.len(), |(b, _)| b);
    let mut cut = p[..limit].rfind(char::is_whitespace).map_or(0, |w| w + 1);
    if let Some(open) = p[..cut].rfind('[')
        && !p[open..cut].contains(']')
    {
        cut = open;
    }
    cut
}

/// Move `cut` back to the start of any finding of an output rule that spans
/// it, so a value is always judged whole.
fn cut_outside_findings(guard: &Guard, p: &str, mut cut: usize) -> usize {
    if cut == 0 {
        return 0;
    }
    let spans: Vec<(usize, usize)> = guard
        .rules
        .iter()
        .filter(|r| r.output())
        .flat_map(|r| (r.detect)(p))
        .collect();
    loop {
        let inside = spans.iter().find(|&&(a, b)| a < cut && cut < b);
        match inside {
            Some(&(a, _)) => cut = a,
            None => return cut,
        }
    }
}

impl EventFilter for GuardFilter {
    fn push(&mut self, ev: StreamEvent, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        match ev {
            StreamEvent::Text { choice, text } => {
                let i = choice as usize;
                while self.pending.len() <= i {
                    self.pending.push(String::new());
                }
                self.pending[i].push_str(&text);
                self.release(choice, false, out)
            }
            StreamEvent::ToolCall {
                choice,
                index,
                id,
                name,
                arguments,
            } => {
                self.release(choice, true, out)?;
                out.push(StreamEvent::ToolCall {
                    choice,
                    index,
                    id,
                    name,
                    arguments: super::restore(&arguments, &self.state.vault),
                });
                Ok(())
            }
            StreamEvent::Finish { choice, .. } => {
                self.release(choice, true, out)?;
                out.push(ev);
                Ok(())
            }
            other => {
                out.push(other);
                Ok(())
            }
        }
    }

    fn flush(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        for c in 0..self.pending.len() {
            self.release(c as u32, true, out)?;
        }
        Ok(())
    }
}
