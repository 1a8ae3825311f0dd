"""Lambda Managed Instances (`AWS_LAMBDA_MAX_CONCURRENCY=N`): N worker processes, each running the ordinary loop with
its own init and its own after-response phase, as awslambdaric 4.x serves it (platform §6), and a parent that keeps
them running.

The parent forks the workers before any thread exists (it has imported nothing of the user's), then waits. A worker
that dies after its init is replaced, and the replacement is logged: awslambdaric leaves it dead and the environment
serves with less capacity until it is recycled. A worker that fails its own init is not replaced (the init error is
reported by the first one; Lambda refuses the others' with 403, which they ignore). A worker the Runtime API failed
says so on its pipe to the parent, never by its exit status (the function's own `sys.exit(2)` only replaces its
worker), and the whole environment exits: Lambda starts a fresh one. SIGTERM, which Lambda sends to the whole
process group, reaches every worker; the parent forwards it too (a signal to the parent alone, from a local emulator,
must stop the workers as well) and exits once they have run their shutdown phases.

Each worker connects its stdout and stderr to `_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET` when Lambda gives one (two
connections per worker, as awslambdaric), retries `/next` (5 attempts, 0.1 s doubling) and runs without the internal
extension: on LMI an internal extension may subscribe to no event, SIGTERM reaches the group anyway, and the
environment is never frozen (docs/design.md "Multi-concurrency").
"""

from __future__ import annotations

import _signal
import os
import sys
import time

from . import logs
from ._typing import TYPE_CHECKING
from .api import RejectedRequest, RuntimeApi, RuntimeApiError
from .errors import EXIT_API_ERROR, EXIT_INIT_ERROR

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    from .config import Config
    from .invocation import Request

_NEXT_ATTEMPTS = 5
_NEXT_FIRST_DELAY_S = 0.1
#: A worker that dies sooner than this after it started is replaced only after this long (no tight restart loop).
_MIN_LIFETIME_S = 1.0
# What a worker writes on its pipe to the parent. Its exit status cannot say "the Runtime API is lost": user code
# chooses exit statuses (argparse and click exit 2 on a usage error), and a user's exit only replaces its worker.
_READY = b"r"
_API_LOST = b"a"


class WorkerApi(RuntimeApi):
    """The Runtime API as a worker uses it: `/next` retried, an init error another worker already posted ignored."""

    def next_invocation(self) -> Request:
        delay = _NEXT_FIRST_DELAY_S
        for attempt in range(1, _NEXT_ATTEMPTS + 1):
            try:
                return super().next_invocation()
            except (RuntimeApiError, OSError) as exc:
                if attempt == _NEXT_ATTEMPTS:
                    raise
                logs.runtime_logger().warning("/next failed (attempt %d of %d): %s", attempt, _NEXT_ATTEMPTS, exc)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def post_init_error(self, body: bytes, error_type: str) -> None:
        try:
            super().post_init_error(body, error_type)
        except RejectedRequest as exc:
            if exc.status != 403:
                raise
            # Lambda takes one init error per environment: another worker posted it first.


class _Worker:
    __slots__ = ("index", "ready_fd", "started_at")

    def __init__(self, index: int, ready_fd: int) -> None:
        self.index = index
        self.ready_fd = ready_fd
        self.started_at = time.monotonic()


class Pool:
    """The parent: starts the workers, replaces those that die after their init, forwards SIGTERM."""

    def __init__(self, config: Config, start: Callable[[int, int], NoReturn]) -> None:
        self.config = config
        #: runs a worker in the forked child: (index, its pipe to the parent: `report_ready`, `report_api_lost`);
        #: never returns
        self.start = start
        self.workers: dict[int, _Worker] = {}
        self.stopping = False
        self._prctl = _prctl()
        self.served = False
        self.api_failed = False

    def run(self) -> NoReturn:
        count = self.config.processes
        # awslambdaric's DEBUG record; `logging` only when it will be written: whatever the parent imports, every
        # worker's resident memory holds (measured: logging is 1.7 MB of each process).
        if logs.root_enabled_for(10):
            import logging

            logging.getLogger().debug(
                {
                    "event": "runtime_worker_pool_initializing",
                    "workerCount": count,
                    "executionEnvironmentMaxConcurrency": self.config.max_concurrency,
                }
            )
        _signal.signal(_signal.SIGTERM, self._forward_sigterm)
        for index in range(count):
            self._spawn(index)
        while self.workers:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            worker = self.workers.pop(pid, None)
            if worker is not None:
                self._exited(pid, status, worker)
        if self.api_failed:
            sys.exit(EXIT_API_ERROR)
        # Exit 1 if no worker ever finished its init (each reported it); otherwise the environment was served.
        sys.exit(0 if self.served or self.stopping else EXIT_INIT_ERROR)

    def _exited(self, pid: int, status: int, worker: _Worker) -> None:
        said = _read_all(worker.ready_fd)
        ready = said.startswith(_READY)
        self.served = self.served or ready
        if self.stopping:
            return
        how = _describe(status)
        if not ready:
            logs.runtime_logger().error("worker %d (pid %d) failed its init (%s): not replaced", worker.index, pid, how)
            return
        if _API_LOST in said:
            # The Runtime API failed that worker: it fails them all. The environment exits, Lambda starts a new one
            # (a replacement would only fail again, every second).
            logs.runtime_logger().error(
                "worker %d (pid %d) lost the Runtime API: the environment exits", worker.index, pid
            )
            self.stopping = True
            self.api_failed = True
            self._forward_sigterm(_signal.SIGTERM, None)
            return
        logs.runtime_logger().warning("worker %d (pid %d) %s: starting a replacement", worker.index, pid, how)
        lived = time.monotonic() - worker.started_at
        if lived < _MIN_LIFETIME_S:
            time.sleep(_MIN_LIFETIME_S - lived)
        if not self.stopping:
            self._spawn(worker.index)

    def _spawn(self, index: int) -> None:
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: its own signal handling, output and init, then the loop; it never returns here
            _end_with_parent(parent, self._prctl)
            os.close(read_fd)
            for other in self.workers.values():
                os.close(other.ready_fd)
            _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)
            if self.config.log_provider_socket:
                _connect_output(self.config.log_provider_socket)
            self.start(index, write_fd)
        os.close(write_fd)
        self.workers[pid] = _Worker(index, read_fd)

    def _forward_sigterm(self, signum: int, frame: object) -> None:
        self.stopping = True
        for pid in list(self.workers):
            try:
                os.kill(pid, _signal.SIGTERM)
            except ProcessLookupError:
                pass


def _prctl() -> Callable[..., int] | None:
    """libc's `prctl`, looked up in the parent: `ctypes` imported once, before the fork, is shared by every worker
    (imported in each worker after it, it was ~0.3 MB of each one's own memory)."""
    try:
        import ctypes

        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux, or no prctl: the platform ends the process group anyway
        return None
    return prctl


def _end_with_parent(parent: int, prctl: Callable[..., int] | None) -> None:
    """SIGTERM this worker when its parent dies (Linux's PR_SET_PDEATHSIG): a worker left alone would go on taking
    invocations nobody supervises. The worker then runs its shutdown phase, as at Lambda's SIGTERM."""
    if prctl is None:
        return
    prctl(1, _signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:  # the parent died before the call: the signal will not come
        os.kill(os.getpid(), _signal.SIGTERM)


def report_ready(ready_fd: int) -> None:
    """In a worker, once its init is done: the parent replaces it if it dies from now on. The pipe stays open for
    `report_api_lost()` (it is not inherited by programs the function runs: os.pipe() fds are close-on-exec)."""
    os.write(ready_fd, _READY)


def report_api_lost(ready_fd: int) -> None:
    """In a worker, just before it exits because the Runtime API failed it: the parent then ends the environment
    instead of replacing the worker (a replacement would only fail again, every second)."""
    try:
        os.write(ready_fd, _API_LOST)
    except OSError:  # the function closed the fd: the parent sees an ordinary exit and replaces the worker
        pass


def _read_all(read_fd: int) -> bytes:
    """What a worker that has exited wrote on its pipe (a few bytes at most)."""
    said = b""
    try:
        os.set_blocking(read_fd, False)
        while chunk := os.read(read_fd, 64):
            said += chunk
    except BlockingIOError:  # a child the worker forked still holds the write end: what was written is read
        pass
    finally:
        os.close(read_fd)
    return said


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by signal {os.WTERMSIG(status)}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def _connect_output(path: str) -> None:
    """stdout and stderr onto two connections to Lambda's log socket for this worker (awslambdaric's `run_single`)."""
    import socket

    for fd in (1, 2):
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(path)
        os.dup2(connection.fileno(), fd)
        connection.close()
