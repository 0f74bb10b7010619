//! Embedding requests and answers in provider-neutral form.

use super::Usage;

/// What to embed.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbeddingInput {
    Texts(Vec<String>),
    /// Pre-tokenized inputs (OpenAI accepts token arrays).
    Tokens(Vec<Vec<u32>>),
}

impl EmbeddingInput {
    pub fn len(&self) -> usize {
        match self {
            EmbeddingInput::Texts(t) => t.len(),
            EmbeddingInput::Tokens(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An embeddings request.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: EmbeddingInput,
    pub dimensions: Option<u32>,
    /// `float` (default) or `base64`: how the caller wants vectors encoded.
    pub encoding_format: Option<String>,
    pub user: Option<String>,
    /// Cohere-style input type (`search_document`, `search_query`, ...).
    pub input_type: Option<String>,
}

/// An embeddings answer: one vector per input, in input order.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingsResponse {
    pub model: String,
    pub vectors: Vec<Vec<f32>>,
    pub usage: Usage,
}
