//! Cost of a call from its token usage and the catalog's prices: cached and
//! cache-write input, reasoning output and images each at their own price,
//! falling back to the plain input/output price where the catalog has none.
//!
//! Usage is unified (see [`Usage`]): `input_tokens` counts every prompt
//! token, cached and cache-written ones included; `output_tokens` counts
//! every generated token, reasoning included. So each token is priced once:
//! plain input = input − cached − written, plain output = output − reasoning.

use crate::catalog::ModelInfo;
use crate::types::Usage;

/// The price for `tokens`, when there are any: `None` only when tokens of
/// a kind the catalog has no price for were used.
fn price(tokens: u64, price: Option<f64>) -> Option<f64> {
    match (tokens, price) {
        (0, _) => Some(0.0),
        (n, Some(p)) => Some(n as f64 * p / 1e6),
        (_, None) => None,
    }
}

/// USD for `usage` (and `images` input images) at `m`'s prices; `None` when
/// the call used input or output tokens the catalog has no price for.
pub fn cost_usd(m: &ModelInfo, usage: &Usage, images: u32) -> Option<f64> {
    let cached = usage.cached_input_tokens.min(usage.input_tokens);
    let written = usage.cache_creation_tokens.min(usage.input_tokens - cached);
    let plain_in = usage.input_tokens - cached - written;
    let reasoning = usage.reasoning_tokens.min(usage.output_tokens);
    let plain_out = usage.output_tokens - reasoning;
    let input = m.input_price;
    let output = m.output_price;
    let total = price(plain_in, input)?
        + price(cached, m.cached_input_price.or(input))?
        + price(written, m.cache_write_price.or(input))?
        + price(plain_out, output)?
        + price(reasoning, m.reasoning_price.or(output))?
        + f64::from(images) * m.image_price.unwrap_or(0.0);
    Some(total)
}

/// The most a call can cost: every prompt token at the dearest input price
/// (a cache write costs more than a plain token) and `max_output` tokens at
/// the dearest output price (for budget reservations).
pub fn max_cost_usd(m: &ModelInfo, input_tokens: u64, max_output: u64, images: u32) -> Option<f64> {
    let input = m.input_price?;
    let output = m.output_price?.max(m.reasoning_price.unwrap_or(0.0));
    let write = m.cache_write_price.unwrap_or(input).max(input);
    Some(
        input_tokens as f64 * write / 1e6
            + max_output as f64 * output / 1e6
            + f64::from(images) * m.image_price.unwrap_or(0.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelInfo {
        ModelInfo {
            id: "m".into(),
            input_price: Some(3.0),
            output_price: Some(15.0),
            cached_input_price: Some(0.3),
            cache_write_price: Some(3.75),
            reasoning_price: Some(20.0),
            image_price: Some(0.01),
            ..Default::default()
        }
    }

    #[test]
    fn each_token_kind_at_its_price() {
        // 1,000,000 input of which 200,000 cached and 100,000 written;
        // 500,000 output of which 100,000 reasoning; 2 images.
        let u = Usage {
            input_tokens: 1_000_000,
            output_tokens: 500_000,
            cached_input_tokens: 200_000,
            cache_creation_tokens: 100_000,
            reasoning_tokens: 100_000,
        };
        let c = cost_usd(&model(), &u, 2).unwrap();
        let expected = 0.7 * 3.0 + 0.2 * 0.3 + 0.1 * 3.75 + 0.4 * 15.0 + 0.1 * 20.0 + 0.02;
        assert!((c - expected).abs() < 1e-9, "{c} vs {expected}");
    }

    #[test]
    fn missing_prices_fall_back_or_give_none() {
        let mut m = model();
        m.cached_input_price = None;
        m.reasoning_price = None;
        let u = Usage {
            input_tokens: 10,
            output_tokens: 10,
            cached_input_tokens: 10,
            reasoning_tokens: 10,
            ..Default::default()
        };
        let c = cost_usd(&m, &u, 0).unwrap();
        assert!((c - (10.0 * 3.0 + 10.0 * 15.0) / 1e6).abs() < 1e-12);
        m.input_price = None;
        assert_eq!(cost_usd(&m, &u, 0), None);
        // A price is needed only for tokens actually used: an embeddings
        // entry without an output price still prices its input.
        let mut e = model();
        e.output_price = None;
        let input_only = Usage {
            input_tokens: 1000,
            ..Default::default()
        };
        assert!((cost_usd(&e, &input_only, 0).unwrap() - 0.003).abs() < 1e-12);
        assert!(
            max_cost_usd(&model(), 1000, 1000, 0).unwrap()
                >= cost_usd(
                    &model(),
                    &Usage {
                        input_tokens: 1000,
                        output_tokens: 1000,
                        ..Default::default()
                    },
                    0
                )
                .unwrap()
        );
    }

    /// Pricing of real catalog entries, with the expected cost worked out
    /// by hand from the providers' published prices (USD per million).
    mod catalog_prices {
        use super::*;
        use crate::catalog::Catalog;

        fn cost(kind: &str, id: &str, u: Usage, images: u32) -> f64 {
            let c = Catalog::load(&[]).unwrap();
            let m = c
                .find(kind, id)
                .unwrap_or_else(|| panic!("{kind}/{id} not in the catalog"));
            cost_usd(&m, &u, images).unwrap()
        }

        fn close(got: f64, want: f64) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }

        /// Anthropic reports `input_tokens` without cache reads and writes;
        /// unified input counts all three (AI_CONTEXT, unified usage).
        fn anthropic(input: u64, cache_read: u64, cache_creation: u64, output: u64) -> Usage {
            Usage {
                input_tokens: input + cache_read + cache_creation,
                output_tokens: output,
                cached_input_tokens: cache_read,
                cache_creation_tokens: cache_creation,
                reasoning_tokens: 0,
            }
        }

        /// Gemini reports `candidatesTokenCount` without thoughts; unified
        /// output counts both, thoughts as reasoning. `promptTokenCount`
        /// includes `cachedContentTokenCount`.
        fn gemini(prompt: u64, cached: u64, candidates: u64, thoughts: u64) -> Usage {
            Usage {
                input_tokens: prompt,
                output_tokens: candidates + thoughts,
                cached_input_tokens: cached,
                cache_creation_tokens: 0,
                reasoning_tokens: thoughts,
            }
        }

        #[test]
        fn gpt_4o_cached_input_at_half_price() {
            // 10,000 prompt tokens of which 4,000 cached; 500 out.
            // $2.50 × 6,000 + $1.25 × 4,000 + $10 × 500 = $0.025.
            let u = Usage {
                input_tokens: 10_000,
                output_tokens: 500,
                cached_input_tokens: 4_000,
                ..Default::default()
            };
            close(cost("openai", "gpt-4o-2024-08-06", u, 0), 0.025);
        }

        #[test]
        fn claude_cache_reads_and_writes() {
            // 1,000 fresh, 20,000 read, 5,000 written (5-minute), 800 out:
            // $3 × 1,000 + $0.30 × 20,000 + $3.75 × 5,000 + $15 × 800 = $0.03975.
            let u = anthropic(1_000, 20_000, 5_000, 800);
            close(
                cost("anthropic", "claude-sonnet-4-5-20250929", u, 0),
                0.03975,
            );
            // Same usage on Bedrock, through a US inference profile.
            close(
                cost(
                    "bedrock",
                    "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                    u,
                    0,
                ),
                0.03975,
            );
            // Opus 4.5: $5 in, $0.50 read, $6.25 write, $25 out.
            // 5,000 + 10,000 + 31,250 + 20,000 = 66,250 micro-dollars.
            close(cost("anthropic", "claude-opus-4-5", u, 0), 0.06625);
        }

        #[test]
        fn reasoning_tokens_at_the_output_price() {
            // o3: 2,000 in; 5,000 out of which 4,000 reasoning, all at $8.
            // $2 × 2,000 + $8 × 5,000 = $0.044.
            let u = Usage {
                input_tokens: 2_000,
                output_tokens: 5_000,
                reasoning_tokens: 4_000,
                ..Default::default()
            };
            close(cost("openai", "o3", u, 0), 0.044);
            // o4-mini with 1,024 of 3,000 prompt tokens cached ($0.275):
            // $1.10 × 1,976 + $0.275 × 1,024 + $4.40 × 2,000 = $0.0112552.
            let u = Usage {
                input_tokens: 3_000,
                output_tokens: 2_000,
                cached_input_tokens: 1_024,
                reasoning_tokens: 1_500,
                ..Default::default()
            };
            close(cost("openai", "o4-mini", u, 0), 0.0112552);
        }

        #[test]
        fn reasoning_tokens_at_their_own_price() {
            // Perplexity Sonar Deep Research bills reasoning at $3 apart from
            // $8 output: $2 × 1,000 + $8 × 4,000 + $3 × 6,000 = $0.052.
            let u = Usage {
                input_tokens: 1_000,
                output_tokens: 10_000,
                reasoning_tokens: 6_000,
                ..Default::default()
            };
            close(cost("perplexity", "sonar-deep-research", u, 0), 0.052);
        }

        #[test]
        fn gemini_thinking_tokens_are_output() {
            // 1,200 prompt, 300 answer + 700 thoughts, at $0.30 / $2.50:
            // $0.30 × 1,200 + $2.50 × 1,000 = $0.00286.
            close(
                cost(
                    "gemini",
                    "models/gemini-2.5-flash",
                    gemini(1_200, 0, 300, 700),
                    0,
                ),
                0.00286,
            );
            // With 1,000 of the prompt from the context cache ($0.03):
            // $0.30 × 200 + $0.03 × 1,000 + $2.50 × 1,000 = $0.00259.
            close(
                cost(
                    "gemini",
                    "gemini-2.5-flash",
                    gemini(1_200, 1_000, 300, 700),
                    0,
                ),
                0.00259,
            );
        }

        #[test]
        fn embeddings_bill_input_only() {
            // text-embedding-3-small: $0.02 per million.
            let u = Usage {
                input_tokens: 12_345,
                ..Default::default()
            };
            close(cost("openai", "text-embedding-3-small", u, 0), 0.0002469);
            close(
                cost("gemini", "gemini-embedding-001", u, 0),
                12_345.0 * 0.15 / 1e6,
            );
        }

        #[test]
        fn images_billed_per_image_add_to_tokens() {
            // Image tokens are in `input_tokens` for token-billed models (no
            // image price); a per-image price (set in config) adds per image.
            let u = Usage {
                input_tokens: 1_000,
                output_tokens: 100,
                ..Default::default()
            };
            close(
                cost("openai", "gpt-4o", u, 3),
                (1_000.0 * 2.5 + 100.0 * 10.0) / 1e6,
            );
            let o = pylon_config::CatalogModelConfig {
                id: "vision-x".into(),
                provider: "openai_compatible".into(),
                input_price: Some(1.0),
                output_price: Some(2.0),
                image_price: Some(0.002),
                ..Default::default()
            };
            let c = Catalog::load(&[o]).unwrap();
            let m = c.find("openai_compatible", "vision-x").unwrap();
            close(
                cost_usd(&m, &u, 3).unwrap(),
                (1_000.0 + 200.0) / 1e6 + 0.006,
            );
        }

        #[test]
        fn unpriced_models_cost_nothing_known() {
            let c = Catalog::load(&[]).unwrap();
            let m = c.find("siliconflow", "deepseek-ai/DeepSeek-V3").unwrap();
            let u = Usage {
                input_tokens: 10,
                output_tokens: 10,
                ..Default::default()
            };
            assert_eq!(cost_usd(&m, &u, 0), None);
            assert_eq!(max_cost_usd(&m, 10, 10, 0), None);
        }
    }
}
