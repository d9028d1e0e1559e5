-- wrk: the NoxRunner exec POST nox-bench sends, on one sandbox id.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"cmd":["true"],"workdir":"/workspace","timeoutSeconds":30}'
