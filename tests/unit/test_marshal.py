"""Marshalling against awslambdaric's own marshaller (the managed python3.12+ flavour, which writes UTF-8)."""

from __future__ import annotations

import decimal
import os
from typing import Any

import pytest
import simplejson
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.errors import MarshalError, UnmarshalError
from runtime.marshal import marshal_result, unmarshal_event


@pytest.fixture(scope="module")
def theirs() -> Any:
    from awslambdaric.lambda_runtime_marshaller import LambdaMarshaller

    previous = os.environ.get("AWS_EXECUTION_ENV")
    os.environ["AWS_EXECUTION_ENV"] = "AWS_Lambda_python3.12"  # read when the encoder is built
    try:
        return LambdaMarshaller()
    finally:
        if previous is None:
            del os.environ["AWS_EXECUTION_ENV"]
        else:
            os.environ["AWS_EXECUTION_ENV"] = previous


# Lone surrogates excluded: awslambdaric's UTF-8 encoding of them raises (README "Compatibility").
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | text
    | st.decimals(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=20
)


@settings(max_examples=300, deadline=None)
@given(value=values)
def test_results_match_awslambdaric_byte_for_byte(theirs: Any, value: Any) -> None:
    body, content_type = marshal_result(value)
    expected, expected_type = theirs.marshal_response(value)
    assert (body, content_type) == (expected.encode("utf-8"), expected_type)


json_texts = values.map(lambda v: simplejson.dumps(v, allow_nan=True)).map(str.encode)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"])


@settings(max_examples=400, deadline=None)
@given(
    body=st.binary(max_size=200)
    | values.map(lambda v: repr(v).encode())
    | json_texts
    | st.tuples(values, encodings).map(lambda pair: simplejson.dumps(pair[0], allow_nan=True).encode(pair[1]))
)
def test_events_parse_or_fail_as_awslambdaric_does(theirs: Any, body: bytes) -> None:
    try:
        expected: Any = theirs.unmarshal_request(body, "application/json")
    except Exception as exc:
        with pytest.raises(UnmarshalError) as ours:
            unmarshal_event(body, "application/json")
        assert ours.value.message == exc.msg  # type: ignore[attr-defined]
        return
    assert repr(unmarshal_event(body, "application/json")) == repr(expected)


def test_decimal_nan_is_written_as_nan_not_minus_nan() -> None:
    assert marshal_result(decimal.Decimal("-NaN"))[0] == b"NaN"


def test_lone_surrogates_fall_back_to_escapes_instead_of_failing() -> None:
    assert marshal_result({"s": "\ud800"})[0] == b'{"s": "\\ud800"}'


def test_marshal_error_message() -> None:
    with pytest.raises(MarshalError, match="Unable to marshal response: Object of type set is not JSON serializable"):
        marshal_result({1, 2})
