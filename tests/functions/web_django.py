"""A one-file Django project through this runtime's WSGI bridge: its `request_finished` signal (fired by the
response's close()) runs after the response."""

from __future__ import annotations

import time

import django
from django.conf import settings
from django.core.signals import request_finished
from django.http import HttpRequest, JsonResponse
from django.urls import path
from marks import mark  # type: ignore[import-not-found]  # tests/functions is the task root

from runtime.web import WSGIHandler

settings.configure(
    DEBUG=False,
    SECRET_KEY="test-only",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
)
django.setup()


def hello(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"message": "hello", "path": request.path})


urlpatterns = [path("hello", hello)]


def finished(**kwargs: object) -> None:
    mark("request-finished-start")
    time.sleep(0.3)
    mark("request-finished-end")


request_finished.connect(finished)

from django.core.wsgi import get_wsgi_application  # noqa: E402  (after settings.configure, as Django requires)

handler = WSGIHandler(get_wsgi_application())
