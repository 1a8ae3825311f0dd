"""The streamed POST under the real RIE, in both its modes: RIE accepts it (it buffers the body, so timing is
tests/e2e/test_streaming.py's, against the project's emulator), and what its caller gets."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.rie.test_workers_rie import lmi_rie
from tests.support import Rie, rie

pytestmark = pytest.mark.rie


def invoke(emulator: Rie) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        emulator.url, data=b"{}", headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}, reply.read()
    except urllib.error.HTTPError as error:
        with error:  # closed, not left to the collector (3.14 warns: 'Implicitly cleaning up')
            return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def test_rie_accepts_the_streamed_response_in_its_classic_mode() -> None:
    with rie("streams.slow") as emulator:
        status, _, body = invoke(emulator)
        output = emulator.process.output()
    assert (status, body) == (200, b"chunk 0\nchunk 1\nchunk 2\n"), output
    assert "refused" not in output and "Traceback" not in output


def test_rie_accepts_the_streamed_response_in_its_lmi_mode() -> None:
    with lmi_rie("streams.slow") as (emulator, _):
        status, headers, body = invoke(emulator)
    assert (status, body) == (200, b"chunk 0\nchunk 1\nchunk 2\n")
    assert headers["lambda-runtime-function-response-mode"] == "streaming"
    assert headers["content-type"] == "application/octet-stream"


def test_rie_lmi_reports_an_error_after_the_first_byte_from_the_trailers() -> None:
    with lmi_rie("streams.fails_midway") as (emulator, _):
        status, headers, body = invoke(emulator)
    # RIE's LMI mode turns the trailers into an error for its caller: their type, their decoded error document
    # (the partial body is dropped).
    assert status == 200 and headers.get("error-type") == "Function.ValueError", (headers, body)
    document = json.loads(body)
    assert (document["errorType"], document["errorMessage"]) == ("ValueError", "the export broke")
