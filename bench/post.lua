-- wrk script: POST a prediction. BODY comes from the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("BODY") or '{"input":{"text":"x"}}'
