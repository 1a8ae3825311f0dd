"""The settings table: the one source of each `RUNTIME_*` variable, its parsing, and the README's table."""

from __future__ import annotations

import re

import pytest

from runtime.config import OTHER_VARIABLES, SETTINGS, Config, ConfigError, Setting, unknown_variables
from runtime.context import FunctionInfo
from tests.support import ROOT


def readme_row(setting: Setting) -> str:
    default = setting.default
    if isinstance(default, bool):
        shown = "on" if default else "off"
    elif isinstance(default, tuple):
        shown = ",".join(default) or "none"
    else:
        shown = str(default)
    return f"| `{setting.env}` | `{shown}` | {setting.doc} |"


def test_the_readme_lists_every_setting_as_the_table_defines_it() -> None:
    readme = (ROOT / "README.md").read_text()
    for setting in SETTINGS:
        assert readme_row(setting) in readme, readme_row(setting)
    # ... and no RUNTIME_* variable the table does not know (RUNTIME_PYTHON is bootstrap's, read by the shell).
    listed = set(re.findall(r"^\| `(RUNTIME_\w+)`", readme, re.MULTILINE))
    assert listed == {setting.env for setting in SETTINGS} | {"RUNTIME_PYTHON"}


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("RUNTIME_AFTER_RESPONSE_MARGIN_MS", " 350 ", 350),
        ("RUNTIME_EXTENSION", "OFF", False),
        ("RUNTIME_LOG_LEVEL", "warn", "WARN"),
        ("RUNTIME_GC", "After_Response", "after_response"),
        ("RUNTIME_EMF_NAMESPACE", "Shop", "Shop"),
        ("RUNTIME_EXTENSION_NAME", "my-ext_2 (v1.0)", "my-ext_2 (v1.0)"),
    ],
)
def test_values_are_parsed(env: str, value: str, expected: object) -> None:
    config = Config("app.handler", "127.0.0.1:9001", FunctionInfo(), {env: value})
    attribute = str(next(s.attribute for s in SETTINGS if s.env == env))
    assert getattr(config, attribute) == expected


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("RUNTIME_MAX_DEFERRED", "\u00b2"),
        ("RUNTIME_MAX_DEFERRED", "0"),
        ("RUNTIME_AFTER_RESPONSE_MARGIN_MS", "-1"),
        ("RUNTIME_EXTENSION", "maybe"),
        ("RUNTIME_LOG_LEVEL", "verbose"),
        ("RUNTIME_GC", "always"),
        ("RUNTIME_EXTENSION_NAME", "ext\r\nX-Injected: 1"),
        ("RUNTIME_EXTENSION_NAME", "ext\tname"),
        ("RUNTIME_EXTENSION_NAME", "\u00e9t\u00e9"),
        ("RUNTIME_EXTENSION_NAME", "\u540d\u524d"),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable(env: str, value: str) -> None:
    with pytest.raises(ConfigError, match=env):
        Config("app.handler", "127.0.0.1:9001", FunctionInfo(), {env: value})


def test_lambda_variables_come_from_the_environment() -> None:
    config = Config.from_env(
        {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "_HANDLER": "app.handler", "_LAMBDA_TELEMETRY_LOG_FD": "3",
         "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start", "AWS_LAMBDA_FUNCTION_NAME": "f"},
        ["bootstrap"],
    )  # fmt: skip
    assert (config.handler, config.runtime_api, config.telemetry_fd) == ("app.handler", "127.0.0.1:9001", 3)
    assert config.initialised_ahead and config.function.function_name == "f"
    assert Config.from_env({"AWS_LAMBDA_RUNTIME_API": "x:1"}, ["bootstrap", "mod.fn"]).handler == "mod.fn"
    with pytest.raises(ConfigError, match="no handler"):
        Config.from_env({"AWS_LAMBDA_RUNTIME_API": "x:1"}, ["bootstrap"])


def test_every_runtime_variable_the_start_up_scripts_use_is_known() -> None:
    """bootstrap, the Dockerfile and the scripts (the layer's wrapper, the stand-in base image's entrypoint) may use
    RUNTIME_* variables of their own: none may be warned about as a misspelt setting."""
    files = [ROOT / "bootstrap", ROOT / "Dockerfile", *(p for p in (ROOT / "scripts").rglob("*") if p.is_file())]
    pattern = r"(?<![A-Za-z0-9_])RUNTIME_[A-Z0-9_]+"
    used = {name for path in files for name in re.findall(pattern, path.read_text(errors="replace"))}
    assert "RUNTIME_PYTHON" in used  # the search finds them
    assert used <= {setting.env for setting in SETTINGS} | set(OTHER_VARIABLES)


def test_unknown_variables_are_named_with_the_closest_setting() -> None:
    known = {setting.env: "1" for setting in SETTINGS} | {"RUNTIME_PYTHON": "python3", "AWS_REGION": "us-east-1"}
    assert unknown_variables(known) is None
    assert unknown_variables({"RUNTIME_LOGLEVEL": "DEBUG", "RUNTIME_STAGE": "prod"}) == (
        "RUNTIME_LOGLEVEL (did you mean RUNTIME_LOG_LEVEL?), RUNTIME_STAGE: not a setting of this runtime, ignored "
        '(README "Configuration" lists the RUNTIME_* settings)'
    )
