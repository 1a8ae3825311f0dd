"""Configuration: where the runtime's settings are read, each with one parser and one default.

`SETTINGS` is the one source of each `RUNTIME_*` setting: its variable, its default, how it is parsed and what it
means. `Config` is built from it and from Lambda's variables once, at start-up; a bad value becomes an init error
naming the variable, and a test holds the README's configuration table to it. A setting of the web bridge, which
user code builds at import, has no `Config` attribute: the bridge reads it with `read_setting()`, through the same
`Setting`, after start-up has checked it. Lambda's variables that describe the process rather than configure the
runtime (`AWS_REGION` for a span, `AWS_EXECUTION_ENV`, the exec wrapper before start-up) are read where they are used.
"""

from __future__ import annotations

from ._typing import TYPE_CHECKING
from .context import FunctionInfo
from .logformat import LEVELS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any


class ConfigError(Exception):
    """A setting the runtime cannot start with; reported as an init error."""

    error_type = "Runtime.ConfigInvalid"


class Setting:
    """One `RUNTIME_*` variable: the attribute of `Config` it sets (None: read with `read_setting()`), its default,
    its parser and its meaning."""

    __slots__ = ("attribute", "default", "doc", "env", "parse")

    def __init__(
        self, env: str, attribute: str | None, default: Any, parse: Callable[[str, str], Any], doc: str
    ) -> None:
        self.env = env
        self.attribute = attribute
        self.default = default
        #: (variable name, raw non-empty value) -> the value; raises ConfigError
        self.parse = parse
        self.doc = doc

    def read(self, environ: Mapping[str, str]) -> Any:
        raw = environ.get(self.env, "").strip()
        return self.parse(self.env, raw) if raw else self.default


def _whole(minimum: int = 0) -> Callable[[str, str], int]:
    def parse(name: str, raw: str) -> int:
        # isdigit() alone accepts "²", which int() refuses.
        if not (raw.isascii() and raw.isdigit()) or int(raw) < minimum:
            raise ConfigError(f"{name} must be a whole number >= {minimum}, not {raw!r}")
        return int(raw)

    return parse


def _flag(name: str, raw: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "on", "yes"):
        return True
    if value in ("0", "false", "off", "no"):
        return False
    raise ConfigError(f"{name} must be on or off, not {raw!r}")


def _text(name: str, raw: str) -> str:
    return raw


def _header_value(name: str, raw: str) -> str:
    # The extension's name is sent in a header of its registration (platform §3.1): a CR or LF would end the header
    # early (a second header, or a broken request), a control character is not allowed in a header value, and a
    # non-ASCII character would reach Lambda as Latin-1 bytes, not the UTF-8 of any file name in /opt/extensions it
    # is compared with (§3.2).
    if not (raw.isascii() and raw.isprintable()):
        raise ConfigError(f"{name} must be printable ASCII (it is sent in an HTTP header), not {raw!r}")
    return raw


def _lazy_imports(name: str, raw: str) -> bool:
    on = _flag(name, raw)
    if on:
        from .lazyimports import supported

        if not supported():
            import sys

            version = ".".join(map(str, sys.version_info[:3]))
            raise ConfigError(f"{name}=on needs Python 3.15 or later (PEP 810 lazy imports); this is Python {version}")
    return on


def _module_names(name: str, raw: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    for module in names:
        if not all(part.isidentifier() for part in module.split(".")):
            raise ConfigError(f"{name} must be module names separated by commas, not {raw!r}")
    return names


def _choice(*choices: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.upper() if choices[0].isupper() else raw.lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
        return value

    return parse


SETTINGS: tuple[Setting, ...] = (
    Setting("RUNTIME_AFTER_RESPONSE_MARGIN_MS", "margin_ms", 200, _whole(),
            "time kept free before the deadline; tasks that would run into it are skipped"),
    Setting("RUNTIME_MAX_DEFERRED", "max_deferred", 1000, _whole(minimum=1), "`defer()` calls allowed per invocation"),
    Setting("RUNTIME_SHUTDOWN_BUDGET_MS", "shutdown_budget_ms", 400, _whole(),
            "time for pending work and `@on_shutdown` hooks after SIGTERM (Lambda allows 500)"),
    Setting("RUNTIME_EXTENSION", "extension", True, _flag,
            "register the internal extension (`off`: no SIGTERM at shutdown, no watchdog)"),
    Setting("RUNTIME_EXTENSION_NAME", "extension_name", "after-response-runtime", _header_value,
            "its name; must not be a file in `/opt/extensions`"),
    Setting("RUNTIME_LOG_LEVEL", "runtime_log_level", "INFO", _choice(*LEVELS),
            "level of the runtime's own logger `runtime` (summaries at INFO): `DEBUG`, `INFO`, `WARN`/`WARNING`, "
            "`ERROR`, `FATAL`/`CRITICAL`; `AWS_LAMBDA_LOG_LEVEL` applies when it is stricter"),
    Setting("RUNTIME_EMF", "emf", False, _flag, "write EMF metrics for the phase"),
    Setting("RUNTIME_EMF_NAMESPACE", "emf_namespace", "AfterResponseRuntime", _text, "their CloudWatch namespace"),
    Setting("RUNTIME_GC", "gc_mode", "off", _choice("off", "after_response"),
            "`after_response`: collect garbage in the phase instead of during handlers"),
    Setting("RUNTIME_GC_EVERY", "gc_every", 1, _whole(minimum=1), "collect every N invocations"),
    Setting("RUNTIME_GC_RSS_MB", "gc_rss_mb", 0, _whole(), "collect only above M MB of resident memory"),
    Setting("RUNTIME_GC_INIT", "gc_init", "deferred", _choice("deferred", "off"),
            "`deferred`: no collection while the handler's module is imported and `@on_init` hooks run; the init's "
            "garbage is collected right after the first invocation's after-response phase (at the end of init where "
            "init runs ahead of invocations), then what init made is frozen (never scanned again). `off`: the "
            "collector runs during init as Python's default has it"),
    Setting("RUNTIME_INVOKE_MODE", None, "buffered", _choice("buffered", "response_stream"),
            "how `runtime.web` answers: `response_stream` streams the app's response (a function URL or API "
            "Gateway route configured to stream)"),
    Setting("RUNTIME_LAZY_IMPORTS", "lazy_imports", False, _lazy_imports,
            "`on` (Python 3.15+): the handler module's top-level imports are lazy (PEP 810), each module loaded when "
            "first used; an on-demand init only"),
    Setting("RUNTIME_EAGER_IMPORTS", "eager_imports", (), _module_names,
            "with `RUNTIME_LAZY_IMPORTS`: modules (and their submodules) still imported at init, for their side "
            "effects, e.g. `gevent.monkey,myapp.registry`"),
    Setting("RUNTIME_PHASE_BUDGET_MS", "phase_budget_ms", 0, _whole(),
            "longest an after-response phase may take (0: until the deadline minus the margin); on Lambda Managed "
            "Instances, where deadlines are not enforced, the budget that frees the worker"),
    Setting("RUNTIME_WORKER_PROCESSES", "worker_processes", 0, _whole(minimum=1),
            "Lambda Managed Instances: processes serving the `AWS_LAMBDA_MAX_CONCURRENCY` invocations (0: one per "
            "invocation). Fewer: each serves several at once as tasks of its event loop (tasks mode: `async def` "
            "handlers and ASGI apps only)"),
    Setting("RUNTIME_LOOP_LAG_MS", "loop_lag_ms", 500, _whole(),
            "tasks mode: warn, naming the invocation and its stack, when one blocks the event loop this long (0: "
            "never)"),
)  # fmt: skip


#: The other `RUNTIME_*` variables of this runtime, which `Config` does not read: the interpreter the shell `bootstrap`
#: execs (the Dockerfile and the emulator set it), and the variable of the AWS base images' /lambda-entrypoint.sh
#: (a shell variable there, not exported today). Neither may be taken for a misspelt setting.
OTHER_VARIABLES = ("RUNTIME_PYTHON", "RUNTIME_ENTRYPOINT")


def unknown_variables(environ: Mapping[str, str]) -> str | None:
    """What to warn about the `RUNTIME_*` variables that are no setting of this runtime, each with the setting closest
    to it; None when there are none. A misspelt setting is otherwise ignored without a word, and its default used."""
    known = {setting.env for setting in SETTINGS}.union(OTHER_VARIABLES)
    unknown = sorted(name for name in environ if name.startswith("RUNTIME_") and name not in known)
    if not unknown:
        return None
    import difflib  # only when there is a name to match: ~1 ms of start-up

    # Matched without the prefix they share, which would make any RUNTIME_ name look close to every setting.
    settings = sorted(setting.env.removeprefix("RUNTIME_") for setting in SETTINGS)
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name.removeprefix("RUNTIME_"), settings, n=1, cutoff=0.5)
        parts.append(f"{name} (did you mean RUNTIME_{close[0]}?)" if close else name)
    return (
        f"{', '.join(parts)}: not a setting of this runtime, ignored "
        '(README "Configuration" lists the RUNTIME_* settings)'
    )


class Config:
    """The runtime's settings: Lambda's variables, and `SETTINGS` (README "Configuration")."""

    # From SETTINGS (their defaults are there):
    margin_ms: int
    max_deferred: int
    shutdown_budget_ms: int
    extension: bool
    extension_name: str
    runtime_log_level: str
    emf: bool
    emf_namespace: str
    gc_mode: str
    gc_every: int
    gc_rss_mb: int
    gc_init: str
    phase_budget_ms: int
    lazy_imports: bool
    eager_imports: tuple[str, ...]
    worker_processes: int
    loop_lag_ms: int

    def __init__(
        self,
        handler: str,
        runtime_api: str,
        function: FunctionInfo,
        settings: Mapping[str, str] | None = None,
        *,
        log_format: str | None = None,
        log_level: str | None = None,
        telemetry_fd: int | None = None,
        task_root: str | None = None,
        initialization_type: str = "on-demand",
        max_concurrency: int | None = None,
        log_provider_socket: str | None = None,
    ) -> None:
        self.handler = handler
        self.runtime_api = runtime_api
        self.function = function
        self.log_format = log_format
        self.log_level = log_level
        self.telemetry_fd = telemetry_fd
        self.task_root = task_root
        self.initialization_type = initialization_type
        #: Lambda Managed Instances: how many invocations the environment serves at once (a worker process each)
        self.max_concurrency = max_concurrency
        #: Lambda Managed Instances: the Unix socket each worker connects its stdout and stderr to
        self.log_provider_socket = log_provider_socket
        for setting in SETTINGS:
            value = setting.read(settings or {})  # every one checked at start-up
            if setting.attribute is not None:
                setattr(self, setting.attribute, value)
        self._check_worker_processes()

    def _check_worker_processes(self) -> None:
        processes = self.worker_processes
        if not processes:
            return
        if self.max_concurrency is None:
            # Not a Managed Instances environment (a local run, an ordinary function): one invocation at a time.
            self.worker_processes = 0
            return
        if processes > self.max_concurrency:
            raise ConfigError(
                f"RUNTIME_WORKER_PROCESSES ({processes}) must not be more than AWS_LAMBDA_MAX_CONCURRENCY "
                f"({self.max_concurrency}): a process with no invocation to serve only holds memory"
            )
        if self.slots > 1 and self.gc_mode == "after_response":
            raise ConfigError(
                "RUNTIME_GC=after_response needs one invocation per process: with RUNTIME_WORKER_PROCESSES below "
                "AWS_LAMBDA_MAX_CONCURRENCY a collection in one invocation's phase would pause the others; unset "
                "one of them"
            )

    @property
    def processes(self) -> int:
        """How many worker processes serve the environment (Managed Instances): RUNTIME_WORKER_PROCESSES, or one per
        concurrent invocation."""
        return self.worker_processes or self.max_concurrency or 1

    @property
    def slots(self) -> int:
        """How many invocations one process serves at once: 1, or more in tasks mode (runtime/tasks.py)."""
        if self.max_concurrency is None:
            return 1
        return -(-self.max_concurrency // self.processes)  # ceil: N invocations over P processes

    @property
    def initialised_ahead(self) -> bool:
        """Whether Lambda runs init before any invocation waits on it (provisioned concurrency, SnapStart): init
        time then costs no caller anything, and what the first invocation would load is better loaded now."""
        return self.initialization_type in ("provisioned-concurrency", "snap-start")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], argv: list[str]) -> Config:
        handler = argv[1] if len(argv) > 1 else environ.get("_HANDLER", "")
        if not handler:
            raise ConfigError("no handler: pass it as the first argument of bootstrap or set _HANDLER")
        api = environ.get("AWS_LAMBDA_RUNTIME_API", "")
        if not api:
            raise ConfigError("AWS_LAMBDA_RUNTIME_API is not set: bootstrap must run inside Lambda or an emulator")
        fd = environ.get("_LAMBDA_TELEMETRY_LOG_FD", "").strip()
        concurrency = environ.get("AWS_LAMBDA_MAX_CONCURRENCY", "").strip()
        return cls(
            handler,
            api,
            FunctionInfo(
                function_name=environ.get("AWS_LAMBDA_FUNCTION_NAME"),
                function_version=environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
                memory_limit_in_mb=environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
                log_group_name=environ.get("AWS_LAMBDA_LOG_GROUP_NAME"),
                log_stream_name=environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
            ),
            environ,
            log_format=environ.get("AWS_LAMBDA_LOG_FORMAT"),
            log_level=environ.get("AWS_LAMBDA_LOG_LEVEL"),
            telemetry_fd=_whole()("_LAMBDA_TELEMETRY_LOG_FD", fd) if fd else None,
            task_root=environ.get("LAMBDA_TASK_ROOT"),
            initialization_type=environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            max_concurrency=_whole(minimum=1)("AWS_LAMBDA_MAX_CONCURRENCY", concurrency) if concurrency else None,
            log_provider_socket=environ.get("_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET") or None,
        )


def read_setting(env: str) -> Any:
    """The value of the `RUNTIME_*` setting `env` in this process, by its `Setting` (its default when unset)."""
    import os

    setting = next(setting for setting in SETTINGS if setting.env == env)
    return setting.read(os.environ)
