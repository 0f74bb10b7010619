"""Drives Pylon with the official `openai` Python SDK, unchanged.

Usage: openai_client.py BASE_URL API_KEY SCENARIO MODEL
Prints one JSON object with what the SDK returned; exits non-zero (with the
exception printed) when the SDK raised where it should not have.
"""
import json
import sys

import openai

base_url, api_key, scenario, model = sys.argv[1:5]
client = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=20)
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
          "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}]
out = {}

if scenario == "chat":
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}], max_tokens=20)
    out = {"content": r.choices[0].message.content, "finish": r.choices[0].finish_reason,
           "total_tokens": r.usage.total_tokens, "model": r.model}
elif scenario == "stream":
    text, usage, finish = "", None, None
    for chunk in client.chat.completions.create(model=model, messages=[{"role": "user", "content": "stream me"}],
                                                stream=True, stream_options={"include_usage": True}):
        if chunk.usage:
            usage = chunk.usage.total_tokens
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    out = {"content": text, "usage": usage, "finish": finish}
elif scenario == "stream_tools":
    calls = {}
    finish = None
    for chunk in client.chat.completions.create(model=model, messages=[{"role": "user", "content": "weather in Oslo"}],
                                                tools=TOOLS, stream=True):
        for c in chunk.choices:
            for tc in c.delta.tool_calls or []:
                entry = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                if tc.id:
                    entry["id"] = tc.id
                if tc.function and tc.function.name:
                    entry["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    entry["arguments"] += tc.function.arguments
            finish = c.finish_reason or finish
    # The SDK's own accumulating helper must agree.
    with client.chat.completions.stream(model=model, messages=[{"role": "user", "content": "weather in Oslo"}],
                                        tools=TOOLS) as s:
        final = s.get_final_completion()
    helper = final.choices[0].message.tool_calls[0]
    out = {"calls": [calls[i] for i in sorted(calls)], "finish": finish,
           "helper": {"name": helper.function.name, "arguments": helper.function.arguments}}
elif scenario == "rate_limited":
    try:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
        out = {"raised": None}
    except openai.RateLimitError as e:
        out = {"raised": "RateLimitError", "status": e.status_code, "message": str(e),
               "retry_after": e.response.headers.get("retry-after")}
elif scenario == "bad_key":
    try:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
        out = {"raised": None}
    except openai.AuthenticationError as e:
        out = {"raised": "AuthenticationError", "status": e.status_code}
elif scenario == "stream_error":
    text = ""
    try:
        for chunk in client.chat.completions.create(model=model, messages=[{"role": "user", "content": "a long story please"}], stream=True):
            for c in chunk.choices:
                text += c.delta.content or ""
        out = {"raised": None, "text": text}
    except openai.APIError as e:
        out = {"raised": type(e).__name__, "text": text, "message": str(e)}
elif scenario == "responses":
    r = client.responses.create(model=model, input="hello responses", instructions="be brief")
    streamed = ""
    kinds = []
    with client.responses.stream(model=model, input="hello stream") as s:
        for ev in s:
            kinds.append(ev.type)
            if ev.type == "response.output_text.delta":
                streamed += ev.delta
        final = s.get_final_response()
    out = {"text": r.output_text, "status": r.status, "usage": r.usage.total_tokens,
           "streamed": streamed, "final": final.output_text, "first": kinds[0], "last": kinds[-1]}
elif scenario == "responses_tools":
    tools = [{"type": "function", "name": "get_weather", "parameters": TOOLS[0]["function"]["parameters"]}]
    r = client.responses.create(model=model, input="weather in Rome", tools=tools)
    call = next(i for i in r.output if i.type == "function_call")
    r2 = client.responses.create(model=model, tools=tools, input=[
        {"role": "user", "content": "weather in Rome"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ])
    out = {"name": call.name, "arguments": call.arguments, "after": r2.output_text}
elif scenario == "embeddings":
    # The SDK asks for base64 by default and decodes it.
    e = client.embeddings.create(model=model, input=["one", "two words"])
    out = {"count": len(e.data), "dims": len(e.data[0].embedding), "first": e.data[0].embedding[:2],
           "tokens": e.usage.prompt_tokens}
elif scenario == "models":
    out = {"ids": [m.id for m in client.models.list()]}
else:
    raise SystemExit(f"unknown scenario {scenario}")

print(json.dumps(out))
