"""Event and result (un)marshalling, byte for byte as awslambdaric 4.x does it (§5.3)."""

from __future__ import annotations

import decimal
import json
import math

import simplejson
from simplejson.raw_json import RawJSON

from .errors import MarshalError, UnmarshalError

TYPE_CHECKING = False  # `typing` costs ~8 ms of cold start: it is for the type checker only
if TYPE_CHECKING:
    from typing import Any

JSON_CONTENT_TYPE = "application/json"
BYTES_CONTENT_TYPE = "application/unknown"


class _Encoder(simplejson.JSONEncoder):  # type: ignore[misc]
    def default(self, obj: Any) -> Any:
        # Decimal as the number it spells; simplejson's own Decimal support would write -NaN, which no parser reads.
        if isinstance(obj, decimal.Decimal):
            return math.nan if obj.is_nan() else RawJSON(str(obj))
        return super().default(obj)


# UTF-8 output, as the managed python3.12+ runtimes produce it (awslambdaric escapes non-ASCII on provided.*:
# README "Compatibility"). The escaping encoder is the fallback for strings UTF-8 cannot carry (lone surrogates).
_encode = _Encoder(use_decimal=False, ensure_ascii=False, allow_nan=True).encode
_encode_ascii = _Encoder(use_decimal=False, ensure_ascii=True, allow_nan=True).encode


def unmarshal_event(body: bytes, content_type: str | None) -> Any:
    """The handler's event: parsed JSON, or the raw bytes for any other content type.

    The standard library's parser reads the same grammar ~20% faster than simplejson on large events; whatever it
    refuses goes to simplejson, so that errors and edge cases stay awslambdaric's. The body is decoded here because
    `json.loads(bytes)` would also accept UTF-16, UTF-32 and a UTF-8 BOM, which simplejson refuses.
    """
    if content_type != JSON_CONTENT_TYPE:
        return body
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_refuse)
    except (ValueError, RecursionError):  # bad JSON or UTF-8, NaN and Infinity, the int-digits limit, deep nesting
        pass
    try:
        return simplejson.loads(body)
    except Exception as exc:
        raise UnmarshalError(f"Unable to unmarshal input: {exc}") from exc


def _refuse(constant: str) -> Any:
    # simplejson (since 3.19) refuses NaN and Infinity in input, so awslambdaric does.
    raise ValueError(constant)


def marshal_result(result: Any) -> tuple[bytes, str]:
    """The `/response` body and its content type: bytes pass through, everything else becomes JSON."""
    if isinstance(result, bytes):
        return result, BYTES_CONTENT_TYPE
    try:
        text: str = _encode(result)
    except Exception as exc:
        raise MarshalError(f"Unable to marshal response: {exc}") from exc
    try:
        return text.encode("utf-8"), JSON_CONTENT_TYPE
    except UnicodeEncodeError:
        return _encode_ascii(result).encode("ascii"), JSON_CONTENT_TYPE


def to_json(obj: Any) -> bytes:
    """JSON for the runtime's own documents (error reports, log records); never fails on odd strings."""
    try:
        return _encode(obj).encode("utf-8")  # type: ignore[no-any-return]
    except UnicodeEncodeError:
        return _encode_ascii(obj).encode("ascii")  # type: ignore[no-any-return]


def to_ascii_json(obj: Any) -> bytes:
    """JSON safe for an HTTP header value."""
    return _encode_ascii(obj).encode("ascii")  # type: ignore[no-any-return]
