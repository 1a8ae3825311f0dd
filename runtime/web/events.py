"""HTTP events from API Gateway (REST, and HTTP APIs with payload 1.0 or 2.0), Function URLs, ALB and Lambda@Edge:
one `Source` per service tells its events apart, reads them into one `HttpRequest`, and writes the app's response back
in the form the service expects (docs/web.md has the sources).

The rules follow Mangum 0.22 and apig-wsgi 2.20, the adapters users come from, where they agree with AWS's
documents; where this module differs, docs/web.md's table says how and why. Neither ASGI nor WSGI is known here.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote, unquote_plus, urlencode

from .._typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

    from ..streaming import StreamingResponse

#: Response media types sent as text; the others go base64-encoded (Mangum's list, plus any `+json`/`+xml` type).
TEXT_MEDIA_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/vnd.api+json",
    "application/vnd.oai.openapi",
)


class UnsupportedEvent(ValueError):
    """The event is not an HTTP request from API Gateway, a Function URL, an ALB or Lambda@Edge."""


class MalformedEvent(UnsupportedEvent):
    """The event is one of those services' HTTP requests, but malformed (a hand-written event, mostly): never taken
    for another kind of event (`other_events`)."""


class HttpRequest:
    """One HTTP request, whatever service sent it."""

    __slots__ = (
        "body",
        "client",
        "headers",
        "method",
        "path",
        "query_string",
        "root_path",
        "scheme",
        "server",
        "source",
    )

    def __init__(
        self,
        source: Source,
        method: str,
        path: str,
        root_path: str,
        query_string: str,
        headers: list[tuple[str, str]],
        body: bytes,
        client: str | None,
        scheme: str | None = None,
    ) -> None:
        #: the service that sent it, which shapes the response
        self.source = source
        self.method = method
        #: the decoded path the client asked for, `root_path` (the API's base path, if configured) included
        self.path = path
        self.root_path = root_path
        #: percent-encoded, without the "?"
        self.query_string = query_string
        #: lower-case names, in the order received; a repeated header is one entry per value only where the event
        #: keeps them apart (ALB's multi-value mode, Lambda@Edge), otherwise one comma-joined value as API Gateway
        #: sends it
        self.headers = headers
        self.body = body
        self.client = client
        header = dict(headers)
        self.scheme = scheme or header.get("x-forwarded-proto", "https")
        host, _, port = header.get("host", "").partition(":")
        default_port = 443 if self.scheme == "https" else 80
        self.server = (host or "localhost", _port(port or header.get("x-forwarded-port", ""), default_port))

    @property
    def route_path(self) -> str:
        """`path` without `root_path`: the part the app routes on."""
        return self.path[len(self.root_path) :] or "/"

    def header(self, name: str) -> str | None:
        """The last value of a header (lower-case `name`)."""
        for key, value in reversed(self.headers):
            if key == name:
                return value
        return None

    def replace_header(self, name: str, value: str | None) -> None:
        """Every copy of header `name` (lower-case) removed, then `value` added unless it is None."""
        self.headers = [(key, text) for key, text in self.headers if key != name]
        if value is not None:
            self.headers.append((name, value))


class Source:
    """One service's HTTP events: which events are its (`infer`), the request in one (`read`), and the Lambda result
    that makes it send a response (`response`)."""

    #: how logs and errors name the service
    name = ""
    #: whether the service can take a streamed response (Function URLs and API Gateway can; ALB cannot)
    can_stream = True

    def infer(self, event: dict[str, Any]) -> bool:
        raise NotImplementedError

    def read(self, event: dict[str, Any], base_path: str) -> HttpRequest:
        raise NotImplementedError

    def response(
        self, status: int, headers: list[tuple[str, str]], body: bytes, text_media_types: tuple[str, ...]
    ) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{self.name}>"


class RestApi(Source):
    """API Gateway REST APIs, and HTTP APIs with payload format 1.0 (the same event)."""

    name = "API Gateway REST (or HTTP API payload 1.0)"

    def infer(self, event: dict[str, Any]) -> bool:
        # A hand-written event without requestContext (a unit test's, as apig-wsgi's suite writes them) is one too.
        return "httpMethod" in event and isinstance(event.get("requestContext") or {}, dict)

    def read(self, event: dict[str, Any], base_path: str) -> HttpRequest:
        headers = _lower(event.get("headers"))
        for name, values in (event.get("multiValueHeaders") or {}).items():
            texts = _texts(name, values)
            if texts:
                headers[name.lower()] = _join(name, texts)
        query = event.get("multiValueQueryStringParameters") or event.get("queryStringParameters") or {}
        path, root_path = _split_base_path(unquote(event.get("path") or "/"), base_path)
        identity = (event.get("requestContext") or {}).get("identity") or {}
        return HttpRequest(
            self,
            event["httpMethod"],
            path,
            root_path,
            urlencode(query, doseq=True),
            list(headers.items()),
            _body(event),
            identity.get("sourceIp"),
        )

    def response(
        self, status: int, headers: list[tuple[str, str]], body: bytes, text_media_types: tuple[str, ...]
    ) -> dict[str, Any]:
        # API Gateway merges the two maps; repeated headers (Set-Cookie) only fit in the multi-value one.
        grouped = _grouped(headers)
        return _document(
            status,
            {
                "headers": {name: values[0] for name, values in grouped.items() if len(values) == 1},
                "multiValueHeaders": {name: values for name, values in grouped.items() if len(values) > 1},
            },
            body,
            headers,
            text_media_types,
        )


class HttpApiV2(Source):
    """API Gateway HTTP APIs with payload format 2.0."""

    name = "API Gateway HTTP API (payload 2.0)"

    def infer(self, event: dict[str, Any]) -> bool:
        return event.get("version") == "2.0" and isinstance(event.get("requestContext"), dict)

    def read(self, event: dict[str, Any], base_path: str) -> HttpRequest:
        http = event["requestContext"]["http"]
        headers = _lower(event.get("headers"))
        cookies = _texts("cookies", event.get("cookies"))
        if cookies:  # 2.0 moves the Cookie header into a list of its own; a hand-written event may have both
            headers["cookie"] = "; ".join([*cookies, headers["cookie"]] if "cookie" in headers else cookies)
        path, root_path = _split_base_path(http.get("path") or "/", base_path)
        return HttpRequest(
            self,
            http["method"],
            path,
            root_path,
            (event.get("rawQueryString") or "").removeprefix("?"),
            list(headers.items()),
            _body(event),
            http.get("sourceIp"),
        )

    def response(
        self, status: int, headers: list[tuple[str, str]], body: bytes, text_media_types: tuple[str, ...]
    ) -> dict[str, Any]:
        # Set-Cookie goes in `cookies`; other repeated headers are joined, as HTTP allows for every header but
        # Set-Cookie (payload 2.0 has no multi-value headers).
        single, cookies = _single_value(headers)
        fields: dict[str, Any] = {"headers": single}
        if cookies:
            fields["cookies"] = cookies
        return _document(status, fields, body, headers, text_media_types)


class FunctionUrl(HttpApiV2):
    """Function URLs: payload 2.0, from a `*.lambda-url.*` domain."""

    name = "Function URL"

    def infer(self, event: dict[str, Any]) -> bool:
        context = event.get("requestContext")
        return super().infer(event) and ".lambda-url." in str(context.get("domainName", ""))  # type: ignore[union-attr]


class Alb(Source):
    """Application Load Balancer, multi-value headers off: one value per header and query parameter."""

    name = "ALB"
    multi_value = False
    can_stream = False

    def infer(self, event: dict[str, Any]) -> bool:
        context = event.get("requestContext")
        return isinstance(context, dict) and "elb" in context and ("multiValueHeaders" in event) == self.multi_value

    def read(self, event: dict[str, Any], base_path: str) -> HttpRequest:
        if self.multi_value:
            multi = event["multiValueHeaders"] or {}
            headers = [(name.lower(), v) for name, values in multi.items() for v in _texts(name, values)]
        else:
            headers = list(_lower(event.get("headers")).items())
        # ALB sends the query in the same form as the headers, but hand-written events mix them: the other map is
        # read when the expected one is missing (as Mangum and apig-wsgi do), never the query silently dropped.
        multi_query = event.get("multiValueQueryStringParameters")
        single_query = event.get("queryStringParameters")
        query = ((multi_query or single_query) if self.multi_value else (single_query or multi_query)) or {}
        # ALB passes query parameters on as the client encoded them (it does not decode them): decoded here, then
        # encoded once, so that the app sees the same query string as behind API Gateway.
        decoded = {
            unquote_plus(key): [unquote_plus(v) for v in value] if isinstance(value, list) else unquote_plus(value)
            for key, value in query.items()
        }
        path, root_path = _split_base_path(unquote(event.get("path") or "/"), base_path)
        forwarded_for = next((value for name, value in reversed(headers) if name == "x-forwarded-for"), "")
        return HttpRequest(
            self,
            event["httpMethod"],
            path,
            root_path,
            urlencode(decoded, doseq=True),
            headers,
            _body(event),
            # ALB appends the address it saw to X-Forwarded-For: the last entry is the one a client cannot forge.
            forwarded_for.rsplit(",", 1)[-1].strip() or None,
        )

    def response(
        self, status: int, headers: list[tuple[str, str]], body: bytes, text_media_types: tuple[str, ...]
    ) -> dict[str, Any]:
        return _document(status, {"headers": _case_varied(headers)}, body, headers, text_media_types)


class AlbMultiValue(Alb):
    """Application Load Balancer, multi-value headers on: it must be answered with `multiValueHeaders`."""

    name = "ALB (multi-value headers)"
    multi_value = True

    def response(
        self, status: int, headers: list[tuple[str, str]], body: bytes, text_media_types: tuple[str, ...]
    ) -> dict[str, Any]:
        return _document(status, {"multiValueHeaders": _grouped(headers)}, body, headers, text_media_types)


class LambdaAtEdge(Source):
    """CloudFront's Lambda@Edge viewer and origin requests: the function generates the response. Its form is
    CloudFront's ("Generate HTTP responses in request triggers", AWS CloudFront developer guide): `status` as a
    string, headers as lists of {key, value}, `bodyEncoding` "text" or "base64"."""

    name = "Lambda@Edge"
    can_stream = False

    def infer(self, event: dict[str, Any]) -> bool:
        records = event.get("Records")
        return isinstance(records, list) and bool(records) and isinstance(records[0], dict) and "cf" in records[0]

    def read(self, event: dict[str, Any], base_path: str) -> HttpRequest:
        request = event["Records"][0]["cf"]["request"]
        headers = [
            (name.lower(), text)
            for name, items in (request.get("headers") or {}).items()
            for text in _texts(name, [item.get("value") for item in items])
        ]
        body = request.get("body") or {}
        data = body.get("data") or ""
        content = base64.b64decode(data, validate=True) if body.get("encoding") == "base64" else data.encode()
        path, root_path = _split_base_path(unquote(request.get("uri") or "/"), base_path)
        scheme = next((value for name, value in headers if name == "cloudfront-forwarded-proto"), "https")
        return HttpRequest(
            self,
            request["method"],
            path,
            root_path,
            request.get("querystring") or "",
            headers,
            content,
            request.get("clientIp"),
            scheme,
        )

    def response(
        self, status: int, headers: list[tuple[str, str]], body: bytes, text_media_types: tuple[str, ...]
    ) -> dict[str, Any]:
        grouped: dict[str, list[dict[str, str]]] = {}
        for name, value in headers:
            grouped.setdefault(name.lower(), []).append({"key": name, "value": value})
        text, is_base64 = _encode_body(body, headers, text_media_types)
        return {
            "status": str(status),
            "headers": grouped,
            "body": text,
            "bodyEncoding": "base64" if is_base64 else "text",
        }


class PassThrough(Source):
    """Any other event (SQS, EventBridge, S3, a direct invoke), as a POST of its JSON to `path` (Lambda Web Adapter's
    pass-through): the app's 2xx response is the invocation's result (its body, parsed when it is JSON), any other
    status fails the invocation, so that the event's service retries it rather than losing it."""

    name = "non-HTTP event"
    can_stream = False

    def __init__(self, path: str) -> None:
        self.path = path

    def infer(self, event: dict[str, Any]) -> bool:
        return True

    def read(self, event: dict[str, Any], base_path: str) -> HttpRequest:
        import json

        body = json.dumps(event, separators=(",", ":")).encode()
        headers = [("host", "localhost"), ("content-type", "application/json"), ("content-length", str(len(body)))]
        return HttpRequest(self, "POST", self.path, "", "", headers, body, None)

    def response(
        self, status: int, headers: list[tuple[str, str]], body: bytes, text_media_types: tuple[str, ...]
    ) -> Any:
        text = body.decode(errors="replace")
        if not 200 <= status < 300:
            raise EventNotHandled(f"the app answered {status} to the event POSTed to {self.path}: {text[:1000]}")
        media_type = next((value for name, value in headers if name.lower() == "content-type"), "")
        if media_type.split(";", 1)[0].strip().lower().endswith(("/json", "+json")) and body:
            import json

            return json.loads(body)
        return text


class EventNotHandled(Exception):
    """The app answered a non-HTTP event (`other_events`) with a status other than 2xx."""


#: The services, in the order their events are told apart (the first whose `infer` accepts an event reads it).
SOURCES: tuple[Source, ...] = (LambdaAtEdge(), AlbMultiValue(), Alb(), FunctionUrl(), HttpApiV2(), RestApi())


def parse_event(event: Any, base_path: str = "", sources: tuple[Source, ...] = SOURCES) -> HttpRequest:
    """The request in `event`; `UnsupportedEvent` when it is not an HTTP event (a clear Lambda error, not a 500).

    `base_path` is the API mapping's path on a custom domain ("/api"): requests under it are routed without it.
    """
    if not isinstance(event, dict):
        raise UnsupportedEvent(f"the event is not an HTTP request from {_SERVICES} ({_keys(event)})")
    for source in sources:
        if source.infer(event):
            break
    else:
        if isinstance(event.get("requestContext"), dict):
            raise UnsupportedEvent(
                "the event has a requestContext but is no HTTP request this adapter knows "
                f"(top-level keys: {_keys(event)})"
            )
        raise UnsupportedEvent(
            f"the event is not an HTTP request from {_SERVICES} (no requestContext; top-level keys: {_keys(event)})"
        )
    try:
        return source.read(event, base_path)
    except (KeyError, TypeError, AttributeError, IndexError, binascii.Error, UnicodeError) as exc:
        raise MalformedEvent(f"malformed HTTP event from {source.name}: {type(exc).__name__}: {exc}") from None


_SERVICES = "API Gateway, a Function URL, an ALB or Lambda@Edge"


def lambda_response(
    request: HttpRequest,
    status: int,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    text_media_types: tuple[str, ...] = TEXT_MEDIA_TYPES,
    exclude_headers: frozenset[str] = frozenset(),
) -> Any:
    """The Lambda result that makes `request`'s service send this response. In the REST and ALB forms, header names
    go out as the app spelt them (the ASGI adapter has lower-cased them, as ASGI servers do; a WSGI app's keep their
    case, as apig-wsgi keeps them), and headers repeated under different cases are one header."""
    pairs = [(name, value) for name, value in headers if name.lower() not in exclude_headers]
    return request.source.response(status, pairs, body, text_media_types)


def _document(
    status: int,
    header_fields: dict[str, Any],
    body: bytes,
    headers: list[tuple[str, str]],
    text_media_types: tuple[str, ...],
) -> dict[str, Any]:
    """The proxy-integration result: statusCode, the source's header fields, body, isBase64Encoded."""
    text, is_base64 = _encode_body(body, headers, text_media_types)
    return {"statusCode": status, **header_fields, "body": text, "isBase64Encoded": is_base64}


def _grouped(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Each header's values, under the first spelling of its name."""
    grouped: dict[str, list[str]] = {}
    spelling: dict[str, str] = {}
    for name, value in pairs:
        grouped.setdefault(spelling.setdefault(name.lower(), name), []).append(value)
    return grouped


def _single_value(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """(headers, Set-Cookie values) for the forms without multi-value headers (payload 2.0, streams): names
    lower-cased, as those services send them (and Mangum and apig-wsgi write them); a repeated header is one
    comma-joined value, as HTTP allows for every header but Set-Cookie."""
    single: dict[str, str] = {}
    cookies = []
    for name, value in pairs:
        key = name.lower()
        if key == "set-cookie":
            cookies.append(value)
        else:
            single[key] = f"{single[key]},{value}" if key in single else value
    return single, cookies


def _encode_body(body: bytes, headers: list[tuple[str, str]], text_media_types: tuple[str, ...]) -> tuple[str, bool]:
    if not body:
        return "", False
    header = {name.lower(): value for name, value in headers}
    media_type = header.get("content-type", "").split(";", 1)[0].strip().lower()
    encoded = header.get("content-encoding", "identity").strip().lower() not in ("", "identity")
    is_text = media_type.startswith(text_media_types) or media_type.endswith(("+json", "+xml"))
    if is_text and not encoded:
        try:
            return body.decode(), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def _case_varied(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """ALB's single-value form has one value per key, but header names are case-insensitive: a repeated header
    (Set-Cookie) is sent under differently-cased names, which ALB passes on as separate headers (as Mangum does)."""
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name
        variant = 0
        while key in out:
            variant += 1
            key = _casing(name, variant)
            if variant > 1 << len(name):
                break
        out[key] = value
    return out


def _casing(name: str, variant: int) -> str:
    """The `variant`-th upper/lower-case spelling of `name` (0 is `name` as it is), letters counted from the left."""
    letters = [i for i, char in enumerate(name) if char.isalpha()]
    chars = list(name)
    for bit, index in enumerate(letters):
        if variant >> bit & 1:
            chars[index] = chars[index].swapcase()
    return "".join(chars)


def _body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body, validate=True)
    return body.encode() if isinstance(body, str) else bytes(body)


def _lower(headers: Mapping[str, Any] | None) -> dict[str, str]:
    lowered: dict[str, str] = {}
    for name, value in (headers or {}).items():
        text = value if type(value) is str else _text(name, value)  # the services send strings: the fast path
        if text is not None:
            lowered[name.lower()] = text
    return lowered


def _text(name: str, value: Any) -> str | None:
    """A header value as the app gets it. The services send strings; a hand-written event (a console test event, a
    unit test, `sam local`) may hold a number or a boolean, which is sent as its JSON text, as API Gateway would send
    it, or null, which is a header that is not there. Anything else is a malformed event (`UnsupportedEvent`), never
    an `AttributeError` from inside the app's server. (Mangum 0.22 and apig-wsgi 2.20 raise AttributeError or
    TypeError for all of them; docs/web.md.)"""
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, (bool, int, float)):
        import json

        return json.dumps(value)
    raise MalformedEvent(f"malformed HTTP event: header {name!r} has a value of type {type(value).__name__}")


def _texts(name: str, values: Any) -> list[str]:
    """A multi-value header's values (or 2.0's `cookies`): a single value where a list belongs counts as one, and
    null values are left out (see `_text`)."""
    if not isinstance(values, list):
        values = [values]
    return [text for text in (_text(name, value) for value in values) if text is not None]


def _join(name: str, values: list[str]) -> str:
    # One Cookie header holds every cookie, "; "-separated (RFC 6265 §5.4); other headers combine with ", ".
    return ("; " if name.lower() == "cookie" else ", ").join(values)


def _split_base_path(path: str, base_path: str) -> tuple[str, str]:
    """(path, root_path): `root_path` is the base path when the request is under it."""
    base = "/" + base_path.strip("/") if base_path.strip("/") else ""
    if base and (path == base or path.startswith(base + "/")):
        return path, base
    return path, ""


def _port(text: str, default: int) -> int:
    return int(text) if text.isdigit() and text.isascii() else default


def _keys(event: Any) -> str:
    if not isinstance(event, dict):
        return f"not an object but {type(event).__name__}"
    return ", ".join(sorted(map(str, event))[:12]) or "none"


def streams(invoke_mode: str | None) -> bool:
    """Whether an adapter streams its responses: `invoke_mode`, else RUNTIME_INVOKE_MODE, else buffered. A function
    streams only when its Function URL or API Gateway route is configured to: `/next` does not tell."""
    from ..config import read_setting

    mode = invoke_mode or read_setting("RUNTIME_INVOKE_MODE")
    if mode not in ("buffered", "response_stream"):
        raise ValueError(f"invoke_mode must be 'buffered' or 'response_stream', not {mode!r}")
    return mode == "response_stream"


#: API Gateway starts a stream once it has the prelude and its delimiter, which must come within the first 16 KB
#: ("Set up a Lambda proxy integration with payload response streaming", AWS API Gateway developer guide).
MAX_PRELUDE = 16 * 1024


def streaming_response(
    status: int, headers: Iterable[tuple[str, str]], body: Any, exclude_headers: frozenset[str] = frozenset()
) -> StreamingResponse:
    """The HTTP prelude of a Function URL or API Gateway stream (status, headers, cookies), then `body`'s parts.
    ValueError when the prelude is over 16 KB, which API Gateway would refuse after the stream had started."""
    from ..streaming import StreamingResponse

    single, cookies = _single_value((name, value) for name, value in headers if name.lower() not in exclude_headers)
    response = StreamingResponse(body, status_code=status, headers=single, cookies=cookies)
    size = len(response.prelude())
    if size > MAX_PRELUDE:
        raise ValueError(
            f"the response's status and headers take {size} bytes; a stream's prelude must fit in {MAX_PRELUDE} "
            "(API Gateway's limit): send fewer or shorter headers"
        )
    return response
