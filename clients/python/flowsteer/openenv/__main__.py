"""python -m flowsteer.openenv: serve a flowsteer canvas to OpenEnv clients.

    python -m flowsteer.openenv --canvas 127.0.0.1:50051 --port 8000

Without --canvas (and $FLOWSTEER_CANVAS) it starts a `flowsteer serve` of
its own. --port 0 takes a free port; the line
`flowsteer openenv serving on http://HOST:PORT` says which.
"""

from __future__ import annotations

import argparse
import socket
import sys


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m flowsteer.openenv", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--canvas", default=None, help="canvas address HOST:PORT (default $FLOWSTEER_CANVAS, else one started here)")
    ap.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8000, help="listen port; 0 for a free one (default 8000)")
    ap.add_argument("--tasks", default=None, help="task file (any layout flowsteer loads) that resets without a task draw from; default: the offline suite")
    ap.add_argument("--format", default="auto", help="layout of --tasks (default auto)")
    ap.add_argument("--max-sessions", type=int, default=64, help="concurrent WebSocket sessions (default 64)")
    ap.add_argument("--max-rounds", type=int, default=0, help="episode max_rounds (default: the canvas's, 20)")
    ap.add_argument("--observation", choices=["full", "incremental"], default="full", help="rendered prompt mode")
    ap.add_argument("--no-two-step", action="store_true", help="turn two-step editing off (prompts given with each add)")
    a = ap.parse_args(argv)

    import uvicorn

    from flowsteer.local import canvas_address
    from flowsteer.openenv.server import make_app
    from flowsteer.trl.dataset import load_tasks

    tasks = load_tasks(a.tasks, format=a.format) if a.tasks else None
    config: dict = {"observation": "OBSERVATION_MODE_" + a.observation.upper()}
    if a.max_rounds:
        config["maxRounds"] = a.max_rounds
    if a.no_two_step:
        config["twoStep"] = False
    addr = canvas_address(a.canvas)
    app = make_app(addr, tasks, config, max_sessions=a.max_sessions)
    sock = socket.socket(socket.AF_INET6 if ":" in a.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.host, a.port))
    host, port = sock.getsockname()[:2]
    # Listen before saying so: a client that connects between this line and
    # uvicorn's startup (slow on a loaded machine) waits in the backlog
    # instead of being refused.
    sock.listen(2048)
    print(f"flowsteer openenv serving on http://{host}:{port} (canvas {addr})", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws_max_size=16 << 20))
    server.run(sockets=[sock])
    sys.exit(0)


if __name__ == "__main__":
    main()
