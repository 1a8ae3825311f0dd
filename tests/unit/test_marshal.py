"""Marshalling against awslambdaric's own marshaller (the managed python3.12+ flavour, which writes UTF-8)."""

from __future__ import annotations

import decimal
import enum
import os
import subprocess
import sys
import textwrap
from collections import OrderedDict, defaultdict, namedtuple
from typing import Any

import pytest
import simplejson
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.errors import MarshalError, UnmarshalError
from runtime.marshal import marshal_result, unmarshal_event
from tests.support import ROOT, without_coverage


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


# Types that `_json`'s encoder would write differently from simplejson, or not at all: they must take the simplejson
# path. Each one differs in a way the byte comparison sees.
Point = namedtuple("Point", "x y")  # simplejson: an object; `_json`: a list


class Colour(enum.IntEnum):
    RED = 1


class Name(enum.StrEnum):
    ADA = "ada"


class Loud(float):
    def __repr__(self) -> str:
        return "1e999"


class Shouty(int):
    def __str__(self) -> str:
        return "SHOUT"


class Backwards(list[Any]):
    def __iter__(self) -> Any:
        return iter(list(super().__iter__())[::-1])


class Relabelled(dict[Any, Any]):
    def items(self) -> Any:
        return [(key, "relabelled") for key in self]


def _moved(mapping: dict[Any, Any]) -> OrderedDict[Any, Any]:
    ordered = OrderedDict(mapping)
    if ordered:
        ordered.move_to_end(next(iter(ordered)))  # OrderedDict's order now differs from its dict storage's
    return ordered


keys = text | st.integers() | st.floats(allow_nan=True) | st.booleans() | st.none()
awkward_scalars = (
    scalars
    | st.sampled_from([Colour.RED, Name.ADA, "\u2028\u2029", "\x00\x1f\x7f"])
    | st.floats(allow_nan=False).map(Loud)
    | st.integers().map(Shouty)
    | st.binary(max_size=6)
    | st.decimals()
)
awkward = st.recursive(
    awkward_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(keys, inner, max_size=4)
        | st.tuples(inner, inner)
        | st.builds(Point, inner, inner)
        | st.lists(inner, max_size=4).map(Backwards)
        | st.dictionaries(text, inner, max_size=4).map(Relabelled)
        | st.dictionaries(text, inner, max_size=4).map(_moved)
        | st.dictionaries(text, inner, max_size=4).map(lambda d: defaultdict(int, d))
    ),
    max_leaves=20,
)


@settings(max_examples=1500, deadline=None)
@given(value=awkward)
def test_any_result_matches_awslambdaric_or_fails_with_its_message(theirs: Any, value: Any) -> None:
    try:
        expected, expected_type = theirs.marshal_response(value)
    except Exception as exc:
        with pytest.raises(MarshalError) as ours:
            marshal_result(value)
        assert ours.value.message == exc.msg  # type: ignore[attr-defined]
        return
    if isinstance(expected, str):
        expected = expected.encode("utf-8")
    assert marshal_result(value) == (expected, expected_type)


def test_a_cycle_fails_with_simplejsons_message(theirs: Any) -> None:
    cycle: list[Any] = [1]
    cycle.append({"again": cycle})
    with pytest.raises(Exception, match="Circular reference detected") as exc:
        theirs.marshal_response(cycle)
    with pytest.raises(MarshalError) as ours:
        marshal_result(cycle)
    assert ours.value.message == exc.value.msg  # type: ignore[attr-defined]


@pytest.mark.parametrize("depth", [99, 100, 101, 400])
def test_deep_results_match_awslambdaric_on_both_sides_of_the_depth_limit(theirs: Any, depth: int) -> None:
    value: Any = "leaf"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    assert marshal_result(value)[0] == theirs.marshal_response(value)[0].encode("utf-8")


def test_an_int_over_the_digit_limit_fails_with_simplejsons_message(theirs: Any) -> None:
    huge = {"n": 10**5000}
    with pytest.raises(Exception) as exc:
        theirs.marshal_response(huge)
    with pytest.raises(MarshalError) as ours:
        marshal_result(huge)
    assert ours.value.message == exc.value.msg  # type: ignore[attr-defined]


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running `code` with the runtime importable."""
    program = textwrap.dedent(code) + "\nimport sys; print(' '.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=ROOT,
        env=without_coverage(os.environ),
    )
    return set(done.stdout.split())


def test_json_native_events_and_results_never_import_simplejson_or_re() -> None:
    # The point of the `_json` path: cold starts without simplejson's ~5 ms of imports. The control below shows
    # the check sees an import when one happens.
    native = """
        from runtime.marshal import marshal_result, unmarshal_event, to_ascii_json
        event = unmarshal_event(b' {"a": [1, 2.5, "x", null, true], "b": {"c": -0.0}} ', "application/json")
        marshal_result({"event": event, "t": (1, 2), "s": "\\u2028 \\ud800"})
        to_ascii_json({"cause": "é"})
    """
    loaded = _modules_after(native)
    assert "runtime.marshal" in loaded
    assert not {"simplejson", "re", "json", "decimal"} & loaded


@pytest.mark.parametrize(
    "code",
    [
        "from runtime.marshal import marshal_result; import decimal; marshal_result({'n': decimal.Decimal('1.10')})",
        "from runtime.marshal import preload; preload()",
    ],
)
def test_simplejson_is_imported_when_needed(code: str) -> None:
    assert "simplejson" in _modules_after(code)


def test_a_bad_event_in_a_fresh_interpreter_fails_with_simplejsons_message(theirs: Any) -> None:
    # In a fresh interpreter the `json` package is not imported, and on 3.11 `_json` then fails with a SystemError
    # instead of a JSONDecodeError: the message must still be simplejson's, as with awslambdaric.
    with pytest.raises(Exception) as exc:
        theirs.unmarshal_request(b"{", "application/json")
    expected: str = exc.value.msg  # type: ignore[attr-defined]
    loaded = _modules_after(
        f"""
        from runtime.errors import UnmarshalError
        from runtime.marshal import unmarshal_event
        try:
            unmarshal_event(b"{{", "application/json")
        except UnmarshalError as error:
            assert error.message == {expected!r}, error.message
        else:
            raise AssertionError("no error")
        """
    )
    assert "simplejson" in loaded
