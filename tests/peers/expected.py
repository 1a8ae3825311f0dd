# ruff: noqa: E501  (test ids and reasons, one per line)
"""The peers' tests that fail against the bridge, each with its reason (tests/peers/test_peer_suites.py).

Three kinds of reason:
- "declared": a behaviour that differs on purpose; `key` names its row in docs/web.md's table of differences.
- "not offered": the test uses a constructor option or a feature the bridge does not have.
- "internals": the test reaches the bridge but checks the peer's internals (its objects, its log messages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Reason:
    kind: Literal["declared", "not offered", "internals"]
    key: str
    text: str


#: the reasons, by key
REASONS: dict[str, Reason] = {
    reason.key: reason
    for reason in (
        Reason(
            "declared",
            "lifespan-once",
            "the lifespan runs once per process: startup at init (a failure is an init error), shutdown at SIGTERM; Mangum runs both around every invocation",
        ),
        Reason(
            "declared",
            "lifespan-startup-error",
            "an exception in the lifespan startup, after the app asked for it, is an init error in every mode; Mangum logs it and serves in 'auto'",
        ),
        Reason(
            "declared",
            "lifespan-foreign-answer",
            "in 'auto', an app that answers the lifespan scope with another protocol's message has no lifespan and is served (ASGI spec, uvicorn); Mangum fails when the app had read the startup event",
        ),
        Reason(
            "declared",
            "lifespan-on-required",
            "lifespan='on' requires a lifespan: an app without one is an init error; Mangum serves it",
        ),
        Reason(
            "declared",
            "root-path",
            "with an API mapping's base path, `path` keeps it and `root_path` is set (Starlette 0.33+); Mangum strips it from `path`",
        ),
        Reason(
            "declared",
            "client-none",
            "`client` is None when the event has no source IP (the spec's type); Mangum sends (None, 0)",
        ),
        Reason(
            "declared",
            "no-content-type-binary",
            "a body without Content-Type is sent base64-encoded and no Content-Type is added; Mangum (payload 2.0) adds application/json, apig-wsgi sends it as text",
        ),
        Reason(
            "declared",
            "rest-header-maps",
            "REST and payload 1.0: single headers in `headers`, repeated ones in `multiValueHeaders` (Mangum's form); apig-wsgi puts all in `multiValueHeaders`. API Gateway merges the two",
        ),
        Reason(
            "declared",
            "v2-empty-cookies",
            "payload 2.0: `cookies` is left out when there are none (Mangum's form); apig-wsgi sends `cookies: []`",
        ),
        Reason(
            "declared",
            "header-join",
            "a repeated request header is joined with ', ' (RFC 9110); apig-wsgi joins with ','",
        ),
        Reason(
            "declared", "cookie-join", "request cookies are joined with '; ' (RFC 6265 §5.4); apig-wsgi joins with ';'"
        ),
        Reason(
            "declared",
            "cgi-content-headers",
            "Content-Type and Content-Length are in the environ as CONTENT_TYPE/CONTENT_LENGTH only (PEP 3333); apig-wsgi also sets HTTP_CONTENT_TYPE",
        ),
        Reason(
            "declared",
            "remote-addr-source-ip",
            "REMOTE_ADDR is the source IP the service saw (requestContext), never a client-set X-Forwarded-For; apig-wsgi takes X-Forwarded-For's first entry",
        ),
        Reason(
            "declared",
            "server-name-default",
            "SERVER_NAME is 'localhost' when the event has no Host header (PEP 3333 requires a value); apig-wsgi leaves it empty",
        ),
        Reason(
            "declared",
            "wsgi-exc-info",
            "start_response(..., exc_info) replaces the response, since nothing was sent yet (PEP 3333); apig-wsgi re-raises the exception",
        ),
        Reason(
            "declared",
            "edge-response-form",
            "Lambda@Edge: the response is in CloudFront's documented form, `status` a string and `bodyEncoding` 'text' or 'base64'; Mangum sends `status` as a number and `isBase64Encoded`, which CloudFront does not read",
        ),
        Reason(
            "declared",
            "v2-path-as-given",
            "payload 2.0: the path is requestContext.http.path as the service gives it (an encoded '/' stays %2F); apig-wsgi unquotes it",
        ),
        Reason("not offered", "custom-handlers", "Mangum's custom_handlers (pluggable event classes)"),
        Reason("not offered", "access-log", "Mangum's access log line per request ('GET /path 200')"),
        Reason("internals", "internals", "reads the peer's own objects, exception types or messages"),
    )
}

EXPECTED: dict[str, dict[str, Reason]] = {
    "mangum": {
        "tests/handlers/test_alb.py::test_aws_alb_response_extra_mime_types": REASONS["internals"],
        "tests/handlers/test_api_gateway.py::test_aws_api_gateway_base_path[GET-/test/hello-None-None-False--None]": REASONS[
            "root-path"
        ],
        "tests/handlers/test_api_gateway.py::test_aws_api_gateway_response_extra_mime_types": REASONS["internals"],
        "tests/handlers/test_custom.py::test_custom_handler": REASONS["custom-handlers"],
        "tests/handlers/test_http_gateway.py::test_aws_http_gateway_response_v1_extra_mime_types": REASONS["internals"],
        "tests/handlers/test_http_gateway.py::test_aws_http_gateway_response_v2[GET-None-Hello world-Hello world-False]": REASONS[
            "no-content-type-binary"
        ],
        'tests/handlers/test_http_gateway.py::test_aws_http_gateway_response_v2[GET-None-{"hello": "world", "foo": true}-{"hello": "world", "foo": true}-False]': REASONS[
            "no-content-type-binary"
        ],
        "tests/handlers/test_http_gateway.py::test_aws_http_gateway_response_v2_extra_mime_types": REASONS["internals"],
        "tests/handlers/test_lambda_at_edge.py::test_aws_lambda_at_edge_exclude_": REASONS["edge-response-form"],
        "tests/handlers/test_lambda_at_edge.py::test_aws_lambda_at_edge_response[GET-text/plain; charset=utf-8-Hello world-Hello world-False]": REASONS[
            "edge-response-form"
        ],
        "tests/handlers/test_lambda_at_edge.py::test_aws_lambda_at_edge_response[POST-image/gif-GIF87a\\x01\\x00\\x01\\x00\\x80\\x01\\x00\\xff\\x00\\x00\\x00\\x00\\x00,\\x00\\x00\\x00\\x00\\x01\\x00\\x01\\x00\\x00\\x02\\x02D\\x01\\x00;-R0lGODdhAQABAIABAP8AAAAAACwAAAAAAQABAAACAkQBADs=-True]": REASONS[
            "edge-response-form"
        ],
        "tests/handlers/test_lambda_at_edge.py::test_aws_lambda_at_edge_response_extra_mime_types": REASONS[
            "edge-response-form"
        ],
        "tests/test_adapter.py::test_default_settings": REASONS["internals"],
        "tests/test_adapter.py::test_event_loop_created_when_missing": REASONS["internals"],
        "tests/test_adapter.py::test_invalid_options[arguments0-Invalid argument supplied for `lifespan`. Choices are: auto|on|off]": REASONS[
            "internals"
        ],
        "tests/test_http.py::test_http_logging[mock_aws_api_gateway_event0]": REASONS["access-log"],
        "tests/test_http.py::test_set_cookies_v1[mock_http_api_event_v10]": REASONS["client-none"],
        "tests/test_http.py::test_set_cookies_v1[mock_http_api_event_v11]": REASONS["client-none"],
        "tests/test_http.py::test_set_cookies_v1[mock_http_api_event_v12]": REASONS["client-none"],
        "tests/test_http.py::test_set_cookies_v1[mock_http_api_event_v13]": REASONS["client-none"],
        "tests/test_lifespan.py::test_lifespan[mock_aws_api_gateway_event0-auto]": REASONS["lifespan-once"],
        "tests/test_lifespan.py::test_lifespan[mock_aws_api_gateway_event1-on]": REASONS["lifespan-once"],
        "tests/test_lifespan.py::test_lifespan_error[mock_aws_api_gateway_event0-auto]": REASONS[
            "lifespan-startup-error"
        ],
        "tests/test_lifespan.py::test_lifespan_error[mock_aws_api_gateway_event1-on]": REASONS[
            "lifespan-startup-error"
        ],
        "tests/test_lifespan.py::test_lifespan_failure[mock_aws_api_gateway_event0-auto-startup]": REASONS[
            "lifespan-once"
        ],
        "tests/test_lifespan.py::test_lifespan_failure[mock_aws_api_gateway_event1-on-startup]": REASONS[
            "lifespan-once"
        ],
        "tests/test_lifespan.py::test_lifespan_failure[mock_aws_api_gateway_event2-auto-shutdown]": REASONS[
            "lifespan-once"
        ],
        "tests/test_lifespan.py::test_lifespan_failure[mock_aws_api_gateway_event3-on-shutdown]": REASONS[
            "lifespan-once"
        ],
        "tests/test_lifespan.py::test_lifespan_state[mock_aws_api_gateway_event0-auto]": REASONS["lifespan-once"],
        "tests/test_lifespan.py::test_lifespan_state[mock_aws_api_gateway_event1-on]": REASONS["lifespan-once"],
        "tests/test_lifespan.py::test_lifespan_unexpected_message[mock_aws_api_gateway_event0-auto]": REASONS[
            "lifespan-foreign-answer"
        ],
        "tests/test_lifespan.py::test_lifespan_unexpected_message[mock_aws_api_gateway_event1-on]": REASONS[
            "lifespan-on-required"
        ],
        "tests/test_lifespan.py::test_lifespan_unsupported[mock_aws_api_gateway_event1-on]": REASONS[
            "lifespan-on-required"
        ],
        "tests/test_lifespan.py::test_quart_lifespan[mock_aws_api_gateway_event0]": REASONS["lifespan-once"],
        "tests/test_lifespan.py::test_starlette_lifespan[mock_aws_api_gateway_event0]": REASONS["lifespan-once"],
    },
    "apig-wsgi": {
        "tests/test_apig_wsgi.py::TestUnknownVersionEvents::test_errors": REASONS["internals"],
        "tests/test_apig_wsgi.py::TestV1Events::test_elb_health_check": REASONS["server-name-default"],
        "tests/test_apig_wsgi.py::TestV1Events::test_empty_and_uncloseable_content": REASONS["no-content-type-binary"],
        "tests/test_apig_wsgi.py::TestV1Events::test_exc_info": REASONS["wsgi-exc-info"],
        "tests/test_apig_wsgi.py::TestV1Events::test_get": REASONS["rest-header-maps"],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_binary": REASONS["rest-header-maps"],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_binary_custom_text_with_gzip_content_encoding[application/vnd.custom]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_binary_custom_text_with_gzip_content_encoding[test/custom]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_binary_default_text_with_gzip_content_encoding[application/json]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_binary_default_text_with_gzip_content_encoding[application/problem+json]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_binary_default_text_with_gzip_content_encoding[application/vnd.api+json]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_binary_default_text_with_gzip_content_encoding[text/html]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_binary_default_text_with_gzip_content_encoding[text/plain]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_custom_text_content_types[application/vnd.custom]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_custom_text_content_types[test/custom]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_default_text_content_types[application/json]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_default_text_content_types[application/problem+json]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_default_text_content_types[application/vnd.api+json]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_default_text_content_types[text/html]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_default_text_content_types[text/plain]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_default_text_content_types_encoded[application/json]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_default_text_content_types_encoded[application/problem+json]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_default_text_content_types_encoded[application/vnd.api+json]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_default_text_content_types_encoded[text/html]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_default_text_content_types_encoded[text/plain]": REASONS[
            "rest-header-maps"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_binary_support_no_content_type": REASONS[
            "no-content-type-binary"
        ],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_missing_content_type": REASONS["no-content-type-binary"],
        "tests/test_apig_wsgi.py::TestV1Events::test_get_single_header": REASONS["rest-header-maps"],
        "tests/test_apig_wsgi.py::TestV1Events::test_plain_header_multi": REASONS["header-join"],
        "tests/test_apig_wsgi.py::TestV1Events::test_post": REASONS["rest-header-maps"],
        "tests/test_apig_wsgi.py::TestV1Events::test_post_binary_support": REASONS["rest-header-maps"],
        "tests/test_apig_wsgi.py::TestV1Events::test_special_content_type": REASONS["cgi-content-headers"],
        "tests/test_apig_wsgi.py::TestV1Events::test_special_headers": REASONS["cgi-content-headers"],
        "tests/test_apig_wsgi.py::TestV1Events::test_special_x_forwarded_for": REASONS["remote-addr-source-ip"],
        "tests/test_apig_wsgi.py::TestV2Events::test_get": REASONS["v2-empty-cookies"],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_binary": REASONS["v2-empty-cookies"],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_binary_custom_text_with_gzip_content_encoding[application/vnd.custom]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_binary_custom_text_with_gzip_content_encoding[test/custom]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_binary_default_text_with_gzip_content_encoding[application/json]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_binary_default_text_with_gzip_content_encoding[application/problem+json]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_binary_default_text_with_gzip_content_encoding[application/vnd.api+json]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_binary_default_text_with_gzip_content_encoding[text/html]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_binary_default_text_with_gzip_content_encoding[text/plain]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_custom_text_content_types[application/vnd.custom]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_custom_text_content_types[test/custom]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_default_text_content_types[application/json]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_default_text_content_types[application/problem+json]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_default_text_content_types[application/vnd.api+json]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_default_text_content_types[text/html]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_default_text_content_types[text/plain]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_default_text_content_types_encoded[application/json]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_default_text_content_types_encoded[application/problem+json]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_default_text_content_types_encoded[application/vnd.api+json]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_default_text_content_types_encoded[text/html]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_binary_support_default_text_content_types_encoded[text/plain]": REASONS[
            "v2-empty-cookies"
        ],
        "tests/test_apig_wsgi.py::TestV2Events::test_get_missing_content_type": REASONS["no-content-type-binary"],
        "tests/test_apig_wsgi.py::TestV2Events::test_mixed_cookies": REASONS["cookie-join"],
        "tests/test_apig_wsgi.py::TestV2Events::test_path_unquoting": REASONS["v2-path-as-given"],
        "tests/test_apig_wsgi.py::TestV2Events::test_post": REASONS["v2-empty-cookies"],
        "tests/test_apig_wsgi.py::TestV2Events::test_post_binary_support": REASONS["v2-empty-cookies"],
        "tests/test_apig_wsgi.py::TestV2Events::test_special_headers": REASONS["cgi-content-headers"],
        "tests/test_apig_wsgi.py::TestV2Events::test_two_cookies": REASONS["cookie-join"],
    },
}
