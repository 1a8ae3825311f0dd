"""`lambda-emulator` (`python -m emulator`): run a function locally through the emulator, with real Lambda's timing.

lambda-emulator invoke app.handler --task-root examples/hello --event '{"name": "Ada"}'
lambda-emulator serve app.handler --task-root examples/hello --port 9000 --watch
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .environment import Emulator, RuntimeNotFound
from .server import RESPONSE_MODE_HEADER, Result, invoke_headers
from .timeline import to_svg

INVOKE_PATH = "/2015-03-31/functions/function/invocations"


class UsageError(Exception):
    """A mistake in the command line: printed as one line, exit status 2."""


# Lambda's rule for a function name (CreateFunction's FunctionName, the name alone).
_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")

RUNTIME_HELP = (
    "the command that starts the runtime, as shell words; the handler is appended. Default: the runtime installed "
    "with the emulator (in a clone of the repository, its bootstrap). For example --runtime 'python -m awslambdaric' "
    "runs the function on AWS's runtime interface client instead, for a side-by-side comparison"
)


def run() -> None:
    """The `lambda-emulator` command (the distribution's console script)."""
    sys.exit(main(prog="lambda-emulator"))


def main(argv: Sequence[str] | None = None, prog: str = "python -m emulator") -> int:
    parser = _parser(prog)
    args = parser.parse_args(argv)
    try:
        emulator = _emulator(args)
        if args.command == "invoke":
            return _invoke(emulator, args)
        return _serve(emulator, args)
    except (UsageError, RuntimeNotFound) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("invoke", "run one invocation and print its response and timeline"),
                       ("serve", "serve a RIE-compatible invoke endpoint on loopback")):  # fmt: skip
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("handler", help="module.function, as in Lambda's handler setting")
        command.add_argument("--task-root", default=".", help="the function's folder (LAMBDA_TASK_ROOT), default .")
        command.add_argument("--timeout", type=float, default=3.0, help="function timeout in seconds (default 3)")
        command.add_argument("--memory", type=int, default=128, help="AWS_LAMBDA_FUNCTION_MEMORY_SIZE, in MB")
        command.add_argument("--log-format", choices=["text", "json"], help="AWS_LAMBDA_LOG_FORMAT")
        command.add_argument("--log-level", help="AWS_LAMBDA_LOG_LEVEL (TRACE, DEBUG, INFO, WARN, ERROR, FATAL)")
        command.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra variable")
        command.add_argument(
            "--function-name",
            default="function",
            help="AWS_LAMBDA_FUNCTION_NAME, also the last part of the invoked function ARN (default function)",
        )
        command.add_argument("--runtime", metavar="COMMAND", help=RUNTIME_HELP)
        command.add_argument(
            "--concurrency",
            type=int,
            metavar="N",
            help="Lambda Managed Instances: N invocations at once (AWS_LAMBDA_MAX_CONCURRENCY), JSON logs, timeouts "
            "not enforced; a request finding every worker busy gets 400 Runtime.Unavailable",
        )
        if name == "invoke":
            events = command.add_mutually_exclusive_group()
            events.add_argument("--event", help="the event, as JSON (default {})")
            events.add_argument("--event-file", help="a file holding the event JSON")
            command.add_argument("--timeline-svg", metavar="PATH", help="also draw the timeline as an SVG picture")
            command.add_argument("--repeat", type=int, default=1, help="invoke this many times (default 1)")
        else:
            command.add_argument("--port", type=int, default=9000, help="port on 127.0.0.1 (default 9000)")
            command.add_argument(
                "--watch",
                action="store_true",
                help="when a .py file under the task root changed, the next invocation starts the function anew (a "
                "cold start, as after a deployment); checked before each invocation",
            )
    return parser


def _emulator(args: argparse.Namespace) -> Emulator:
    module, dot, function = args.handler.rpartition(".")
    if not dot or not module or not function:
        raise UsageError(f"handler {args.handler!r} is not module.function (for example app.handler)")
    task_root = Path(args.task_root)
    if not task_root.is_dir():
        raise UsageError(f"task root {args.task_root!r} is not a folder")
    env = {}
    for item in args.env:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise UsageError(f"--env {item!r} is not NAME=VALUE")
        env[name] = value
    if args.timeout <= 0:
        raise UsageError("--timeout must be more than 0 seconds")
    if args.concurrency is not None and args.concurrency < 1:
        raise UsageError("--concurrency must be 1 or more")
    if not _FUNCTION_NAME.fullmatch(args.function_name):
        raise UsageError(f"--function-name {args.function_name!r} is not 1 to 64 letters, digits, - or _")
    command = _runtime_command(args.runtime) if args.runtime is not None else None
    event = _read_event(args) if args.command == "invoke" else b""
    args.event_bytes = event
    return Emulator(
        args.handler,
        task_root,
        timeout_s=args.timeout,
        memory_mb=args.memory,
        log_format=args.log_format.upper() if args.log_format else None,
        log_level=args.log_level,
        env=env,
        concurrency=args.concurrency,
        function_name=args.function_name,
        command=command,
        watch=getattr(args, "watch", False),
    )


def _runtime_command(text: str) -> list[str]:
    """--runtime's command: its words, the first a program found on PATH or a path to an executable."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"--runtime {text!r}: {exc}") from None
    if not words:
        raise UsageError("--runtime is empty")
    if shutil.which(words[0]) is None:
        raise UsageError(f"--runtime {text!r}: {words[0]!r} is not a program found on PATH or an executable")
    if os.sep in words[0]:
        words[0] = os.path.abspath(words[0])  # relative to where the emulator was started, not to the task root
    return words


def _read_event(args: argparse.Namespace) -> bytes:
    if args.event_file:
        try:
            text = Path(args.event_file).read_text()
        except OSError as exc:
            raise UsageError(f"cannot read the event file: {exc.strerror}: {args.event_file}") from None
    else:
        text = args.event if args.event is not None else "{}"
    try:
        json.loads(text)
    except ValueError as exc:
        raise UsageError(f"the event is not JSON: {exc}") from None
    return text.encode()


def _invoke(emulator: Emulator, args: argparse.Namespace) -> int:
    def show(result: Result) -> None:
        # Printed the moment the caller has it, while the after-response phase may still be running.
        if result.streamed:
            error = result.stream_error_type
            print(f"stream ended ({len(result.body)} bytes{', error ' + error if error else ''})", flush=True)
        else:
            print(f"{result.kind}:", result.body.decode("utf-8", "replace"), flush=True)

    def show_chunk(ms: float, data: bytes, headers: dict[str, str]) -> None:
        # A streamed response: each chunk the moment it arrives, with its time since the invoke.
        print(f"chunk at {ms:8.1f} ms: {data[:200].decode('utf-8', 'replace')!r}", flush=True)

    timelines = []
    failed = False
    with emulator:
        for _ in range(max(args.repeat, 1)):
            result, timeline = emulator.invoke(args.event_bytes, on_result=show, on_chunk=show_chunk)
            print(timeline.render(), flush=True)
            timelines.append(timeline)
            failed = failed or result.kind != "response"
    if args.timeline_svg:
        Path(args.timeline_svg).write_text(to_svg(timelines))
        print(f"timeline drawn to {args.timeline_svg}")
    return 1 if failed else 0


def _serve(emulator: Emulator, args: argparse.Namespace) -> int:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 64 * 1024  # one write per reply (see emulator/server.py)
        disable_nagle_algorithm = True

        def log_message(self, format: str, *items: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != INVOKE_PATH:
                self._reply(404, b'{"message": "use POST ' + INVOKE_PATH.encode() + b'"}', {})
                return
            try:
                headers = invoke_headers(self.headers.get("X-Amz-Client-Context"))
            except ValueError as exc:
                self._reply(400, json.dumps({"message": str(exc)}).encode(), {})
                return
            self.streaming = False
            _, timeline = emulator.invoke(body, headers, on_result=self._send_result, on_chunk=self._send_chunk)
            print(timeline.summary(), flush=True)

        def _send_chunk(self, ms: float, data: bytes, headers: dict[str, str]) -> None:
            """A streamed response goes on to the client chunk by chunk, as a Function URL passes it on."""
            if not self.streaming:
                self.streaming = True
                self.send_response(200)
                self.send_header("Content-Type", headers.get("content-type", "application/octet-stream"))
                self.send_header(RESPONSE_MODE_HEADER, "streaming")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
            if not data:
                return
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            except OSError:
                pass  # the client went away: the function is not stopped, as on Lambda

        def _send_result(self, result: Result) -> None:
            if result.streamed:
                if not self.streaming:
                    self._send_chunk(0.0, b"", result.headers)  # an empty stream: the head, then its end
                try:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except OSError:
                    pass
                return
            if result.kind == "unavailable":  # every worker busy: RIE's LMI mode answers 400 (production: 429)
                self._reply(400, result.body, {"Content-Type": "application/json"})
                return
            extra = {"X-Amz-Function-Error": "Unhandled"} if result.kind != "response" else {}
            if result.headers.get("content-type"):
                extra["Content-Type"] = result.headers["content-type"]
            self._reply(200, result.body, extra)

        def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()

    try:
        httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    except OSError as exc:
        emulator.close()
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror}") from None
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    print(f"serving {args.handler} on http://127.0.0.1:{port}{INVOKE_PATH} (Ctrl-C stops)", flush=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    # SIGTERM (a process manager, `kill`) stops it as Ctrl-C does: the function gets Lambda's shutdown, SIGTERM
    # with its @on_shutdown hooks, before the emulator exits.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        print("stopping: the function gets its shutdown", flush=True)
    finally:
        httpd.shutdown()
        emulator.close()
    return 0
