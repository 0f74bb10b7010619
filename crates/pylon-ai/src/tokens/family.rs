//! Which tokenizer a model uses: OpenAI models by id onto their published
//! encoding (and their image token rules), other families onto the
//! approximation documented for them in docs/ai/catalog.md.

use super::bpe::Encoding;

/// How an OpenAI model turns an image into tokens (OpenAI's vision guide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRule {
    /// `base` + `tile` per 512-px tile of the scaled image; `base` alone at
    /// `detail: low`.
    Tiles { base: u64, tile: u64 },
    /// 32-px patches (at most 1536) times a multiplier (in thousandths).
    Patches { milli: u64 },
}

/// A model family, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// An OpenAI model known to use `enc`: counts follow OpenAI's chat
    /// format rules and can be exact.
    OpenAi { enc: Encoding, images: ImageRule },
    /// Served by an OpenAI-style provider on a known encoding but a chat
    /// format Pylon does not model exactly (gpt-oss' harmony format, an
    /// unknown id on an OpenAI or Azure provider): estimated.
    OpenAiLike(Encoding),
    /// Claude (Anthropic, Bedrock, Vertex): its tokenizer is not public.
    Anthropic,
    /// Gemini and Gemma (SentencePiece vocabularies).
    Gemini,
    /// Everything else (Llama, Mistral, Qwen, DeepSeek, Command, Nova, ...).
    Other,
}

impl Family {
    /// The encoding text is counted with: the model's own for OpenAI models,
    /// cl100k_base as the stand-in for every other family.
    pub fn encoding(self) -> Encoding {
        match self {
            Family::OpenAi { enc, .. } | Family::OpenAiLike(enc) => enc,
            _ => Encoding::Cl100k,
        }
    }

    /// Counts can be exact (the model's real tokenizer and chat format).
    pub fn exact_capable(self) -> bool {
        matches!(self, Family::OpenAi { .. })
    }

    /// Short name for logs and docs.
    pub fn name(self) -> &'static str {
        match self {
            Family::OpenAi { .. } => "openai",
            Family::OpenAiLike(_) => "openai-like",
            Family::Anthropic => "anthropic",
            Family::Gemini => "gemini",
            Family::Other => "other",
        }
    }
}

const TILES_4O: ImageRule = ImageRule::Tiles {
    base: 85,
    tile: 170,
};

/// The family of a model named by a provider kind, an id, or both as
/// `kind/id` (`openai/gpt-4o`, `us.anthropic.claude-sonnet-4-5-...`,
/// `models/gemini-2.5-pro`, `ft:gpt-4o-mini:org::x`, `azure`).
pub fn family(model: &str) -> Family {
    let lower = model.trim().to_ascii_lowercase();
    let (kind, id) = match lower.rsplit_once('/') {
        Some((prefix, last)) => (prefix.split('/').next().unwrap_or(""), last),
        // A bare word may be a kind (`azure`) or an id (`gpt-4o`).
        None => (lower.as_str(), lower.as_str()),
    };
    family_of(kind, id)
}

/// The family of model `id` served by a provider of `kind` (either may be
/// empty); the id decides, the kind only when the id is unknown.
pub fn family_of(kind: &str, id: &str) -> Family {
    let id = id.trim().to_ascii_lowercase();
    let id = id.rsplit('/').next().unwrap_or("");
    let id = match id.strip_prefix("ft:") {
        Some(rest) => rest.split(':').next().unwrap_or(rest),
        None => id,
    };
    if let Some(f) = by_id(id) {
        return f;
    }
    match kind.to_ascii_lowercase().as_str() {
        "openai" | "azure" | "openai_compatible" => Family::OpenAiLike(Encoding::O200k),
        "anthropic" => Family::Anthropic,
        "gemini" | "vertex" => Family::Gemini,
        _ => Family::Other,
    }
}

fn by_id(id: &str) -> Option<Family> {
    if id.contains("claude") {
        return Some(Family::Anthropic);
    }
    if id.contains("gemini") || id.contains("gemma") {
        return Some(Family::Gemini);
    }
    if id.contains("gpt-oss") {
        return Some(Family::OpenAiLike(Encoding::O200k));
    }
    let o200k = |images| {
        Some(Family::OpenAi {
            enc: Encoding::O200k,
            images,
        })
    };
    let patches = |milli| o200k(ImageRule::Patches { milli });
    let has = |s: &str| id.contains(s);
    if id.starts_with("gpt-5") {
        return if has("-nano") {
            patches(2460)
        } else if has("-mini") {
            patches(1620)
        } else {
            o200k(ImageRule::Tiles {
                base: 70,
                tile: 140,
            })
        };
    }
    if id.starts_with("gpt-4.1-nano") {
        return patches(2460);
    }
    if id.starts_with("gpt-4.1-mini") {
        return patches(1620);
    }
    if id.starts_with("o4-mini") {
        return patches(1720);
    }
    if id.starts_with("gpt-4o-mini") {
        return o200k(ImageRule::Tiles {
            base: 2833,
            tile: 5667,
        });
    }
    if id.starts_with("o1") || id.starts_with("o3") {
        return o200k(ImageRule::Tiles {
            base: 75,
            tile: 150,
        });
    }
    if id.starts_with("computer-use") {
        return o200k(ImageRule::Tiles {
            base: 65,
            tile: 129,
        });
    }
    let o200k_prefixes = [
        "gpt-4o",
        "gpt-4.1",
        "gpt-4.5",
        "chatgpt-4o",
        "gpt-realtime",
        "omni-moderation",
        "codex-mini",
    ];
    if o200k_prefixes.iter().any(|p| id.starts_with(p)) {
        return o200k(TILES_4O);
    }
    let cl100k_prefixes = [
        "gpt-4",
        "gpt-3.5",
        "gpt-35",
        "text-embedding-3",
        "text-embedding-ada-002",
    ];
    if cl100k_prefixes.iter().any(|p| id.starts_with(p)) {
        return Some(Family::OpenAi {
            enc: Encoding::Cl100k,
            images: TILES_4O,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(model: &str) -> Option<Encoding> {
        match family(model) {
            Family::OpenAi { enc, .. } => Some(enc),
            _ => None,
        }
    }

    #[test]
    fn openai_models_map_to_their_encoding() {
        for m in [
            "gpt-4o",
            "gpt-4o-2024-08-06",
            "gpt-4o-mini",
            "gpt-4.1-nano",
            "o3",
            "o4-mini-2025-04-16",
            "o1-preview",
            "gpt-5",
            "gpt-5.1-mini",
            "openai/gpt-4.1",
            "ft:gpt-4o-mini-2024-07-18:acme::abc123",
            "chatgpt-4o-latest",
        ] {
            assert_eq!(enc(m), Some(Encoding::O200k), "{m}");
        }
        for m in [
            "gpt-4",
            "gpt-4-0613",
            "gpt-4-turbo",
            "gpt-3.5-turbo",
            "gpt-35-turbo",
            "text-embedding-3-small",
            "text-embedding-ada-002",
        ] {
            assert_eq!(enc(m), Some(Encoding::Cl100k), "{m}");
        }
    }

    #[test]
    fn image_rules_follow_the_model() {
        let rule = |m: &str| match family(m) {
            Family::OpenAi { images, .. } => images,
            f => panic!("{m}: {f:?}"),
        };
        assert_eq!(rule("gpt-4o"), TILES_4O);
        assert_eq!(
            rule("gpt-4o-mini"),
            ImageRule::Tiles {
                base: 2833,
                tile: 5667
            }
        );
        assert_eq!(rule("o4-mini"), ImageRule::Patches { milli: 1720 });
        assert_eq!(rule("gpt-5-nano"), ImageRule::Patches { milli: 2460 });
        assert_eq!(
            rule("gpt-5"),
            ImageRule::Tiles {
                base: 70,
                tile: 140
            }
        );
    }

    #[test]
    fn other_families_by_id_then_kind() {
        assert_eq!(family("claude-sonnet-4-5"), Family::Anthropic);
        assert_eq!(
            family("us.anthropic.claude-sonnet-4-20250514-v1:0"),
            Family::Anthropic
        );
        assert_eq!(family("models/gemini-2.5-pro"), Family::Gemini);
        assert_eq!(family("gemma-3-27b-it"), Family::Gemini);
        assert_eq!(
            family("openai/gpt-oss-120b"),
            Family::OpenAiLike(Encoding::O200k)
        );
        assert_eq!(family("llama-3.3-70b-versatile"), Family::Other);
        assert_eq!(family("azure"), Family::OpenAiLike(Encoding::O200k));
        assert_eq!(
            family_of("azure", "my-deployment"),
            Family::OpenAiLike(Encoding::O200k)
        );
        assert_eq!(family_of("azure", "gpt-4o").name(), "openai");
        assert_eq!(family_of("anthropic", "custom"), Family::Anthropic);
        assert_eq!(family_of("groq", "whatever"), Family::Other);
        assert_eq!(family("anthropic/custom"), Family::Anthropic);
    }
}
