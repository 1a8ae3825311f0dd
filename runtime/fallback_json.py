"""awslambdaric's own marshalling, with simplejson: what `marshal` does not prove identical comes here.

Imported on first use (see `marshal`): simplejson and what it imports cost ~7 ms.
"""

from __future__ import annotations

import decimal

import simplejson
from simplejson.raw_json import RawJSON

from ._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


class _Encoder(simplejson.JSONEncoder):  # type: ignore[misc]
    def default(self, obj: Any) -> Any:
        # Decimal as the number it spells; simplejson's own Decimal support would write -NaN, which no parser reads.
        if isinstance(obj, decimal.Decimal):
            return float("nan") if obj.is_nan() else RawJSON(str(obj))
        return super().default(obj)


_encode = _Encoder(use_decimal=False, ensure_ascii=False, allow_nan=True).encode
_encode_ascii = _Encoder(use_decimal=False, ensure_ascii=True, allow_nan=True).encode


def loads(body: bytes) -> Any:
    return simplejson.loads(body)


def dumps(obj: Any, ascii: bool) -> str:
    return (_encode_ascii if ascii else _encode)(obj)  # type: ignore[no-any-return]
