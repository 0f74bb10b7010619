"""Time to first token of a streamed chat completion, over one keep-alive
connection: from sending the request to reading the first `data:` event whose
delta has non-empty content. Each stream is read to `data: [DONE]`.

usage: ttft.py URL AUTH_HEADER_VALUE COUNT [MODEL]
prints: p50_ms p99_ms count
"""
import http.client
import json
import sys
import time
from urllib.parse import urlsplit


def main():
    url, auth, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model = sys.argv[4] if len(sys.argv) > 4 else "bench-stream"
    u = urlsplit(url)
    body = json.dumps({
        "model": model, "stream": True,
        "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 32,
    }).encode()
    headers = {"content-type": "application/json", "authorization": auth}
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    samples = []
    for i in range(count + 20):  # the first 20 are a warm-up
        t0 = time.perf_counter()
        conn.request("POST", u.path, body=body, headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            sys.exit(f"ttft: {url} answered {resp.status}: {resp.read()[:300]!r}")
        first, done = None, False
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                continue
            if first is None:
                ev = json.loads(data)
                if any((c.get("delta") or {}).get("content") for c in ev.get("choices") or []):
                    first = time.perf_counter()
        resp.read()  # mark the response done (readline does not at its end)
        if first is None or not done:
            sys.exit(f"ttft: {url}: stream without content or without [DONE]")
        if i >= 20:
            samples.append((first - t0) * 1000)
    samples.sort()
    pick = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    print(f"{pick(0.50):.3f} {pick(0.99):.3f} {len(samples)}")


main()
