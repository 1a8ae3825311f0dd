"""Event and result (un)marshalling, byte for byte as awslambdaric 4.x does it (platform §5.3).

awslambdaric marshals with simplejson. Importing it (with the `re`, `enum`, `decimal` and `collections` it needs)
costs 5-7 ms of every cold start, so the common cases go through the standard library's C parser and encoder
(`_json`, without the `json` package, which imports `re` too), which give the same result:

- events: `_json`'s scanner reads the same grammar as simplejson, ~15% faster on large events; whatever it refuses
  (bad JSON or UTF-8, NaN and Infinity, the int-digits limit, deep nesting) goes to simplejson, so that errors and
  edge cases stay awslambdaric's;
- results made only of exact dicts, lists, tuples, strings, ints, floats, booleans and None are encoded by `_json`'s
  encoder, which writes the same bytes as simplejson for these types (differential tests in
  tests/unit/test_marshal.py); anything else (a Decimal, bytes, a namedtuple, a subclass, a cycle) goes to simplejson.

simplejson is imported the first time one of those cases occurs (`fallback_json`), or at init when the environment is
initialised ahead of its invocations (`preload`).
"""

from __future__ import annotations

import _json
import gc

from ._typing import TYPE_CHECKING
from .errors import MarshalError, UnmarshalError

if TYPE_CHECKING:
    from typing import Any

JSON_CONTENT_TYPE = "application/json"
BYTES_CONTENT_TYPE = "application/unknown"

_JSON_WHITESPACE = " \t\n\r"
# The types `_json`'s encoder writes exactly as simplejson does; subclasses are left out, since simplejson treats some
# of them differently (a namedtuple becomes an object).
_NATIVE_TYPES = frozenset((dict, list, tuple, str, int, float, bool, type(None)))
# Deeper results, and cycles, go to simplejson (which detects cycles).
_MAX_NATIVE_DEPTH = 100


class _ScannerSettings:
    """What `_json.make_scanner` reads from a `json.JSONDecoder`: the standard grammar, NaN and Infinity refused."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    # Read by 3.15's scanner (json.loads gained array_hook); an attribute the older ones ignore.
    array_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(constant: str) -> Any:
        # simplejson (since 3.19) refuses NaN and Infinity in input, so awslambdaric does.
        raise ValueError(constant)


_scan = _json.make_scanner(_ScannerSettings())  # type: ignore[arg-type]  # typeshed: any object with these attributes


def _not_native(obj: Any) -> Any:
    # Never reached: `_is_native` checked every object first.
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


# UTF-8 output, as the managed python3.12+ runtimes produce it (awslambdaric escapes non-ASCII on provided.*:
# README "Compatibility"). The escaping encoder is the fallback for strings UTF-8 cannot carry (lone surrogates).
# Arguments: markers (None: no cycle check, `_is_native` excludes cycles), default, string encoder, indent,
# separators, sort_keys, skipkeys, allow_nan.
_encode_native = _json.make_encoder(None, _not_native, _json.encode_basestring, None, ": ", ", ", False, False, True)
_encode_native_ascii = _json.make_encoder(
    None, _not_native, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
)


def unmarshal_event(body: bytes, content_type: str | None) -> Any:
    """The handler's event: parsed JSON, or the raw bytes for any other content type.

    The body is decoded here because simplejson and awslambdaric read UTF-8 only, where `json.loads(bytes)` would
    also accept UTF-16, UTF-32 and a UTF-8 BOM.
    """
    if content_type != JSON_CONTENT_TYPE:
        return body
    try:
        return _parse(body.decode("utf-8"))
    except Exception:  # however `_json` refuses (on 3.11 a SystemError when the `json` package is not imported)
        pass
    from . import fallback_json

    try:
        return fallback_json.loads(body)
    except Exception as exc:
        raise UnmarshalError(f"Unable to unmarshal input: {exc}") from exc


def _parse(text: str) -> Any:
    """`json.loads(text)` without the `json` package."""
    start = len(text) - len(text.lstrip(_JSON_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration:
        raise ValueError("Expecting value") from None
    if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
        raise ValueError("Extra data")
    return value


def marshal_result(result: Any) -> tuple[bytes, str]:
    """The `/response` body and its content type: bytes pass through, everything else becomes JSON."""
    if isinstance(result, bytes):
        return result, BYTES_CONTENT_TYPE
    try:
        return to_json(result), JSON_CONTENT_TYPE
    except Exception as exc:
        raise MarshalError(f"Unable to marshal response: {exc}") from exc


def to_json(obj: Any) -> bytes:
    """JSON as awslambdaric writes it, UTF-8 encoded; strings UTF-8 cannot carry (lone surrogates) are escaped."""
    try:
        return _dumps(obj, ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return to_ascii_json(obj)


def to_ascii_json(obj: Any) -> bytes:
    """JSON safe for an HTTP header value."""
    return _dumps(obj, ascii=True).encode("ascii")


def _dumps(obj: Any, ascii: bool) -> str:
    if _is_native(obj):
        try:
            return "".join((_encode_native_ascii if ascii else _encode_native)(obj, 0))
        except ValueError:  # an int over the int-digits limit: simplejson's own error
            pass
    from . import fallback_json

    return fallback_json.dumps(obj, ascii)


def _is_native(obj: Any) -> bool:
    """Whether `obj` holds only `_NATIVE_TYPES`, to `_MAX_NATIVE_DEPTH` levels: checked a level at a time, in C.

    `gc.get_referents` of a level is the next level: the items of lists and tuples, the values of dicts and their
    keys when they are not all exact strings (atoms have none). ~25 ns per object.
    """
    level = [obj]
    for _ in range(_MAX_NATIVE_DEPTH):
        if not _NATIVE_TYPES.issuperset(map(type, level)):
            return False
        level = gc.get_referents(*level)
        if not level:
            return True
    return False


def preload() -> None:
    """Import simplejson now, for environments initialised ahead of their invocations (provisioned concurrency)."""
    from . import fallback_json  # noqa: F401
