"""The example function: answers at once, then does slow work after the response."""

import logging
import time

from runtime import after_response, defer

logger = logging.getLogger(__name__)


def send_event(name: str) -> None:
    time.sleep(0.3)  # a slow call to an event bus, say
    logger.info("sent event %s", name)


def handler(event, context):
    defer(send_event, event.get("name", "hello"))
    return {"message": f"Hello, {event.get('name', 'world')}!", "request_id": context.aws_request_id}


@after_response
def flush(invocation) -> None:
    logger.info("flushed after %s (succeeded=%s)", invocation.request_id, invocation.succeeded)
