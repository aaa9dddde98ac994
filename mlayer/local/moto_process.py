"""moto's server in a child process: `python -m mlayer.local.moto_process --port 0`.

Run apart so that moto's own prints and request logs never mix with mlayer's output (the demo's
`--json` stdout stays clean) and its request handling does not share the GIL with the caller.
Prints one line, the bound port, then serves until stdin closes or a signal stops it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlayer.local.moto_process")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--enforce-iam", action="store_true")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from mlayer.local import iam_enforcement
    from mlayer.local.aws import moto_server

    if args.enforce_iam:  # moto reads it once, when its settings are first imported
        os.environ[iam_enforcement.ENV] = str(iam_enforcement.FREE_REQUESTS)
    server = moto_server(args.host, args.port)
    if args.enforce_iam:
        iam_enforcement.enforce_resources()
    server.start()
    _host, port = server.get_host_and_port()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        sys.stdin.read()  # the parent holds our stdin: EOF means it is gone
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
