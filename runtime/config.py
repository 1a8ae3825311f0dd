"""Configuration: the only place that reads the environment, once, at start-up."""

from __future__ import annotations

from .context import FunctionInfo
from .logformat import LEVELS

TYPE_CHECKING = False  # `typing` costs ~8 ms of cold start: it is for the type checker only
if TYPE_CHECKING:
    from collections.abc import Mapping


class ConfigError(Exception):
    """A setting the runtime cannot start with; reported as an init error."""

    error_type = "Runtime.ConfigInvalid"


class Config:
    """The runtime's settings (README "Configuration")."""

    def __init__(
        self,
        handler: str,
        runtime_api: str,
        function: FunctionInfo,
        *,
        log_format: str | None = None,
        log_level: str | None = None,
        telemetry_fd: int | None = None,
        task_root: str | None = None,
        margin_ms: int = 200,
        max_deferred: int = 1000,
        shutdown_budget_ms: int = 400,
        extension: bool = True,
        extension_name: str = "after-response-runtime",
        runtime_log_level: str = "INFO",
        emf: bool = False,
        emf_namespace: str = "AfterResponseRuntime",
        gc_mode: str = "off",
        gc_every: int = 1,
        gc_rss_mb: int = 0,
        initialization_type: str = "on-demand",
    ) -> None:
        self.handler = handler
        self.runtime_api = runtime_api
        self.function = function
        self.log_format = log_format
        self.log_level = log_level
        self.telemetry_fd = telemetry_fd
        self.task_root = task_root
        self.margin_ms = margin_ms
        self.max_deferred = max_deferred
        self.shutdown_budget_ms = shutdown_budget_ms
        self.extension = extension
        self.extension_name = extension_name
        self.runtime_log_level = runtime_log_level
        self.emf = emf
        self.emf_namespace = emf_namespace
        self.gc_mode = gc_mode
        self.gc_every = gc_every
        self.gc_rss_mb = gc_rss_mb
        self.initialization_type = initialization_type

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
        fd = environ.get("_LAMBDA_TELEMETRY_LOG_FD")
        gc_mode = environ.get("RUNTIME_GC", "off").strip().lower() or "off"
        if gc_mode not in ("off", "after_response"):
            raise ConfigError(f"RUNTIME_GC must be 'off' or 'after_response', not {gc_mode!r}")
        return cls(
            handler=handler,
            runtime_api=api,
            function=FunctionInfo(
                function_name=environ.get("AWS_LAMBDA_FUNCTION_NAME"),
                function_version=environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
                memory_limit_in_mb=environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
                log_group_name=environ.get("AWS_LAMBDA_LOG_GROUP_NAME"),
                log_stream_name=environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
            ),
            log_format=environ.get("AWS_LAMBDA_LOG_FORMAT"),
            log_level=environ.get("AWS_LAMBDA_LOG_LEVEL"),
            telemetry_fd=_int(environ, "_LAMBDA_TELEMETRY_LOG_FD", None) if fd else None,
            task_root=environ.get("LAMBDA_TASK_ROOT"),
            margin_ms=_int(environ, "RUNTIME_AFTER_RESPONSE_MARGIN_MS", 200),
            max_deferred=_int(environ, "RUNTIME_MAX_DEFERRED", 1000, minimum=1),
            shutdown_budget_ms=_int(environ, "RUNTIME_SHUTDOWN_BUDGET_MS", 400),
            extension=_flag(environ, "RUNTIME_EXTENSION", True),
            extension_name=environ.get("RUNTIME_EXTENSION_NAME", "after-response-runtime"),
            runtime_log_level=_log_level(environ),
            emf=_flag(environ, "RUNTIME_EMF", False),
            emf_namespace=environ.get("RUNTIME_EMF_NAMESPACE", "AfterResponseRuntime"),
            gc_mode=gc_mode,
            gc_every=_int(environ, "RUNTIME_GC_EVERY", 1, minimum=1),
            gc_rss_mb=_int(environ, "RUNTIME_GC_RSS_MB", 0),
            initialization_type=environ.get("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        )


def _int(environ: Mapping[str, str], name: str, default: int | None, minimum: int = 0) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        if default is None:
            raise ConfigError(f"{name} is empty")
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < minimum:  # isdigit() alone accepts "²"
        raise ConfigError(f"{name} must be a whole number >= {minimum}, not {raw!r}")
    return int(raw)


def _log_level(environ: Mapping[str, str]) -> str:
    raw = environ.get("RUNTIME_LOG_LEVEL", "").strip().upper() or "INFO"
    if raw not in LEVELS:
        raise ConfigError(f"RUNTIME_LOG_LEVEL must be one of {', '.join(LEVELS)}, not {raw!r}")
    return raw


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "on", "yes"):
        return True
    if raw in ("0", "false", "off", "no"):
        return False
    raise ConfigError(f"{name} must be on or off, not {raw!r}")
