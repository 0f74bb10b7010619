"""Drive Pylon's Anthropic Messages API with the official `anthropic` SDK.

Usage: anthropic_client.py BASE_URL API_KEY MODEL COUNT

BASE_URL is Pylon's proxy URL (the SDK adds /v1/messages), API_KEY a key
Pylon's key-auth accepts, MODEL the model name to ask for, COUNT the exact
count_tokens answer to expect, or "estimate" when Pylon estimates.

The provider behind MODEL must be a testkit mock with a 429 (retry-after: 3)
queued for the first request. Scenarios, in order: a rate-limit error, a
refused key, a plain message, a streamed message, tools with streaming and
the tool result sent back, count_tokens. Prints {"passed": [scenario, ...]}
as JSON at the end; exits 1 with the reason on stderr at the first failure.
"""

import json
import sys

import anthropic

SYSTEM = "You are terse."


PASSED = []


def check(cond, what):
    if not cond:
        print(f"FAIL after {PASSED}: {what}", file=sys.stderr, flush=True)
        sys.exit(1)


def ok(name):
    PASSED.append(name)


def main():
    base, key, model, count = sys.argv[1:5]
    client = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0, timeout=20.0)

    # 429 from the provider: RateLimitError with the provider's message and retry-after.
    try:
        client.messages.create(model=model, max_tokens=32, messages=[{"role": "user", "content": "hi"}])
        check(False, "the queued 429 did not surface")
    except anthropic.RateLimitError as e:
        check(e.status_code == 429, f"status {e.status_code}")
        check("Rate limit reached" in e.message, f"message {e.message!r}")
        check(e.response.headers.get("retry-after") == "3", f"retry-after {e.response.headers.get('retry-after')!r}")
        check(e.body["error"]["type"] == "rate_limit_error", f"body {e.body!r}")
    ok("rate_limit_error")

    # A key Pylon does not know: AuthenticationError.
    bad = anthropic.Anthropic(base_url=base, api_key="not-a-pylon-key", max_retries=0, timeout=20.0)
    try:
        bad.messages.create(model=model, max_tokens=32, messages=[{"role": "user", "content": "hi"}])
        check(False, "a wrong key was accepted")
    except anthropic.AuthenticationError as e:
        check(e.status_code == 401, f"status {e.status_code}")
    ok("authentication_error")

    # Plain message.
    m = client.messages.create(
        model=model, max_tokens=64, system=SYSTEM, messages=[{"role": "user", "content": "hello sdk"}]
    )
    check(m.type == "message" and m.role == "assistant", f"shape {m!r}")
    check(m.model == model, f"model {m.model!r}")
    check([b.type for b in m.content] == ["text"], f"content {m.content!r}")
    check(m.content[0].text == "echo: hello sdk", f"text {m.content[0].text!r}")
    check(m.stop_reason == "end_turn", f"stop_reason {m.stop_reason!r}")
    check(m.usage.input_tokens > 0 and m.usage.output_tokens > 0, f"usage {m.usage!r}")
    ok("message")

    # Streaming text deltas.
    with client.messages.stream(
        model=model, max_tokens=64, system=SYSTEM, messages=[{"role": "user", "content": "stream me please"}]
    ) as s:
        deltas = list(s.text_stream)
        final = s.get_final_message()
    check(len(deltas) > 1, f"text arrived in {len(deltas)} delta(s)")
    check("".join(deltas) == "echo: stream me please", f"deltas {deltas!r}")
    check(final.content[0].text == "echo: stream me please", f"final {final!r}")
    check(final.stop_reason == "end_turn", f"stop_reason {final.stop_reason!r}")
    check(final.usage.output_tokens > 0, f"usage {final.usage!r}")
    ok("stream")

    # Tools with streaming: input_json pieces accumulate into the input.
    tools = [
        {
            "name": "get_weather",
            "description": "Weather by city",
            "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        }
    ]
    question = {"role": "user", "content": "weather in Paris"}
    pieces = []
    with client.messages.stream(model=model, max_tokens=128, tools=tools, messages=[question]) as s:
        for ev in s:
            if ev.type == "input_json":
                pieces.append(ev.partial_json)
        final = s.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    check(len(uses) == 1, f"content {final.content!r}")
    check(uses[0].name == "get_weather" and uses[0].id, f"tool_use {uses[0]!r}")
    check(uses[0].input == {"query": "weather in Paris"}, f"input {uses[0].input!r}")
    check(len([p for p in pieces if p]) > 1, f"input arrived in pieces {pieces!r}")
    check(final.stop_reason == "tool_use", f"stop_reason {final.stop_reason!r}")
    answer = client.messages.create(
        model=model,
        max_tokens=128,
        tools=tools,
        messages=[
            question,
            {"role": "assistant", "content": final.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny"}]},
        ],
    )
    check(answer.content[-1].text == "The tool said: sunny", f"after the tool {answer.content!r}")
    ok("tools_stream")

    # count_tokens.
    c = client.messages.count_tokens(model=model, system=SYSTEM, messages=[{"role": "user", "content": "count me"}])
    if count == "estimate":
        check(0 < c.input_tokens < 100, f"estimate {c.input_tokens}")
    else:
        check(c.input_tokens == int(count), f"count {c.input_tokens} != {count}")
    ok("count_tokens")
    print(json.dumps({"passed": PASSED}))


if __name__ == "__main__":
    main()
