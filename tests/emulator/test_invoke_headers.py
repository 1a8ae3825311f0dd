from __future__ import annotations

import base64

import pytest

from emulator.server import invoke_headers


def test_the_client_context_of_an_invoke_call_becomes_the_next_header() -> None:
    encoded = base64.b64encode(b'{"custom": {"k": "v"}}').decode()
    assert invoke_headers(encoded) == {"Lambda-Runtime-Client-Context": '{"custom": {"k": "v"}}'}
    assert invoke_headers(None) == {}


def test_a_client_context_that_is_not_base64_is_refused() -> None:
    with pytest.raises(ValueError, match="X-Amz-Client-Context is not base64"):
        invoke_headers("not base64!")
