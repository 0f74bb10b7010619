//! Cost of a call from its token usage and the catalog's prices: cached and
//! cache-write input, reasoning output and images each at their own price,
//! falling back to the plain input/output price where the catalog has none.

use crate::catalog::ModelInfo;
use crate::types::Usage;

/// USD for `usage` (and `images` input images) at `m`'s prices; `None` when
/// the catalog has no input or output price for the model.
pub fn cost_usd(m: &ModelInfo, usage: &Usage, images: u32) -> Option<f64> {
    let input = m.input_price?;
    let output = m.output_price?;
    let per = |tokens: u64, price: f64| tokens as f64 * price / 1e6;
    let cached = usage.cached_input_tokens.min(usage.input_tokens);
    let written = usage.cache_creation_tokens.min(usage.input_tokens - cached);
    let plain_in = usage.input_tokens - cached - written;
    let reasoning = usage.reasoning_tokens.min(usage.output_tokens);
    let plain_out = usage.output_tokens - reasoning;
    let total = per(plain_in, input)
        + per(cached, m.cached_input_price.unwrap_or(input))
        + per(written, m.cache_write_price.unwrap_or(input))
        + per(plain_out, output)
        + per(reasoning, m.reasoning_price.unwrap_or(output))
        + f64::from(images) * m.image_price.unwrap_or(0.0);
    Some(total)
}

/// The most a call can cost: every prompt token at the input price and
/// `max_output` tokens at the highest output price (for budget reservations).
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
}
