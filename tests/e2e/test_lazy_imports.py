"""RUNTIME_LAZY_IMPORTS (Python 3.15+, PEP 810): the handler module's top-level imports are lazy during init, each
module loaded when first used, but for the runtime's own and those RUNTIME_EAGER_IMPORTS names; where the interpreter
has no lazy imports, the setting is a configuration error.

The lazy tests run where the interpreter is 3.15 or later (`make test-pythons`, in the Debian sid root); the error
test everywhere else.
"""

from __future__ import annotations

import json

import pytest

from emulator.server import LambdaApiServer, Result
from runtime.lazyimports import supported
from tests.conftest import StartRuntime
from tests.support import init_error_document

LAZY = {"RUNTIME_LAZY_IMPORTS": "on", "RUNTIME_EAGER_IMPORTS": "lazy_dep_eager"}
needs_lazy_imports = pytest.mark.skipif(
    not supported(), reason="PEP 810 lazy imports need Python 3.15+ (run on 3.15 by make test-pythons)"
)


def run(api: LambdaApiServer, event: object) -> Result:
    request_id = api.submit(json.dumps(event).encode())
    result = api.result(request_id)
    api.wait_ended(request_id)
    return result


@needs_lazy_imports
def test_top_level_imports_load_at_first_use_but_the_eager_ones_at_init(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("lazy_app.handler", LAZY)
    first = run(api, {})
    assert first.json() == {"before": ["lazy_dep_eager"], "after": ["lazy_dep_eager"], "eager": "eager"}, first.body
    used = run(api, {"use": True})
    assert used.json() == {
        "before": ["lazy_dep_eager"],
        "after": ["lazy_dep_eager", "lazy_dep_from", "lazy_dep_used"],
        "eager": "eager",
    }, used.body
    process.wait_output("hook ran after")  # the runtime's import stayed eager: the hook was registered at init


@needs_lazy_imports
def test_without_the_setting_every_top_level_import_loads_at_init(api: LambdaApiServer, start: StartRuntime) -> None:
    start("lazy_app.handler")
    assert run(api, {}).json()["before"] == [
        "lazy_dep_eager",
        "lazy_dep_from",
        "lazy_dep_used",
    ]


@needs_lazy_imports
def test_an_init_ahead_of_invocations_imports_eagerly_and_says_so(api: LambdaApiServer, start: StartRuntime) -> None:
    process = start("lazy_app.handler", {**LAZY, "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"})
    assert run(api, {}).json()["before"] == ["lazy_dep_eager", "lazy_dep_from", "lazy_dep_used"]
    assert "RUNTIME_LAZY_IMPORTS: not applied, init runs ahead of invocations here" in process.output()


@needs_lazy_imports
def test_a_missing_module_fails_the_invocations_that_use_it_not_the_init(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    start("lazy_missing.handler", LAZY)
    for _ in range(2):  # not cached: each invocation that uses the name fails again
        result = run(api, {})
        assert result.kind == "error", result.body
        document = result.json()
        assert document["errorType"] == "ModuleNotFoundError", document
        assert "lazy_dep_that_does_not_exist" in document["errorMessage"], document
    assert api.init_error() is None


@pytest.mark.skipif(supported(), reason="this interpreter has PEP 810 lazy imports: the setting is valid here")
def test_the_setting_is_a_configuration_error_where_python_has_no_lazy_imports(
    api: LambdaApiServer, start: StartRuntime
) -> None:
    process = start("lazy_app.handler", {"RUNTIME_LAZY_IMPORTS": "on"})
    document = init_error_document(api, process)
    assert document["errorType"] == "Runtime.ConfigInvalid", document
    assert document["errorMessage"].startswith(
        "Invalid configuration: RUNTIME_LAZY_IMPORTS=on needs Python 3.15 or later (PEP 810 lazy imports); this is "
        "Python 3."
    ), document
    assert not api.find("/invocation/next")
