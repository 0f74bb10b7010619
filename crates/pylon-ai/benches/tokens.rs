//! What token counting costs: building each encoding once (what
//! `tokens::warm_up` moves off the request path), counting chat prompts of
//! three sizes exactly (o200k, with OpenAI's message rules) and as estimates
//! for another family (cl100k stand-in), counting plain output text, and the
//! size-only bound that settles most context-window checks without
//! tokenizing.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pylon_ai::tokens::{self, Encoding, PromptTokens};
use pylon_ai::types::{ChatRequest, Message, Role};

/// English prose with code and numbers, repeated to `bytes`.
fn text(bytes: usize) -> String {
    let para = "The gateway routes each request to a model group, retries with backoff \
                when a provider answers 429, and records tokens and cost. `fn main() { \
                println!(\"{}\", 42); }` costs 12.5 tokens per call on average, roughly.\n";
    let mut s = para.repeat(bytes / para.len() + 1);
    s.truncate(bytes);
    s
}

/// A conversation of `turns` user/assistant pairs under a system prompt,
/// about `bytes` of text in all.
fn chat(bytes: usize) -> ChatRequest {
    let turns = 4;
    let each = bytes / (turns * 2 + 1);
    let mut messages = vec![Message::text(Role::System, text(each))];
    for _ in 0..turns {
        messages.push(Message::text(Role::User, text(each)));
        messages.push(Message::text(Role::Assistant, text(each)));
    }
    ChatRequest {
        model: "gpt-4o".into(),
        messages,
        ..Default::default()
    }
}

fn load(c: &mut Criterion) {
    // Building an encoding happens once per process; time it by hand (it
    // cannot be repeated inside the process) and report it.
    for enc in [Encoding::O200k, Encoding::Cl100k] {
        let t = Instant::now();
        let loaded = !tokens::is_loaded(enc);
        tokens::count_text(
            match enc {
                Encoding::O200k => "gpt-4o",
                Encoding::Cl100k => "gpt-4",
            },
            "warm",
        );
        if loaded {
            println!("load {}: {:?} (once per process)", enc.name(), t.elapsed());
        }
    }
    let _ = c;
}

fn prompts(c: &mut Criterion) {
    let mut g = c.benchmark_group("count_prompt");
    for bytes in [1_000, 10_000, 100_000] {
        let req = chat(bytes);
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_with_input(BenchmarkId::new("gpt-4o exact", bytes), &req, |b, r| {
            b.iter(|| tokens::count_prompt(black_box("gpt-4o"), black_box(r)))
        });
        g.bench_with_input(BenchmarkId::new("claude estimate", bytes), &req, |b, r| {
            b.iter(|| tokens::count_prompt(black_box("claude-sonnet-4-5"), black_box(r)))
        });
        g.bench_with_input(BenchmarkId::new("upper bound only", bytes), &req, |b, r| {
            b.iter(|| PromptTokens::new(black_box(r)).bound())
        });
        g.bench_with_input(
            BenchmarkId::new("copy kept for counting", bytes),
            &req,
            |b, r| b.iter(|| tokens::for_counting(black_box(r))),
        );
    }
    g.finish();
}

fn output(c: &mut Criterion) {
    let mut g = c.benchmark_group("count_text");
    let answer = text(2_000);
    g.throughput(Throughput::Bytes(answer.len() as u64));
    g.bench_function("gpt-4o 2 kB answer", |b| {
        b.iter(|| tokens::count_text(black_box("gpt-4o"), black_box(&answer)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = load, prompts, output
}
criterion_main!(benches);
