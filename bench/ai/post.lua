-- wrk script: POST the same small chat completion request every time.
-- Auth and gateway-specific headers come from the command line (-H).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"bench","messages":[{"role":"user","content":"Say hello."}],"max_tokens":32}'
