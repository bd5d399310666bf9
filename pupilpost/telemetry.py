"""OpenTelemetry: one tracer provider per process, W3C context through HTTP and Kafka.

Span attributes carry identifiers only (ids, routes, topics), never personal data:
the HTTP middleware records the route template, not the path or query string.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

tracer = trace.get_tracer("pupilpost")


def setup(service: str) -> None:
    """Install an SDK tracer provider unless one is already installed (tests install their own)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def current_carrier() -> dict[str, str]:
    """The current trace context as W3C headers (traceparent, tracestate)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def current_trace_id() -> str | None:
    """The current trace id as 32 hex characters, if a span is recording."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def attach_carrier(carrier: Mapping[str, str]) -> object:
    """Make a stored W3C context current; returns a token for `context.detach`."""
    return context.attach(propagate.extract(dict(carrier)))


class TracingMiddleware:
    """Server span per HTTP request, continuing an incoming traceparent."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        parent = propagate.extract(headers)
        status = {"code": 500}

        async def _send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        name = f"{scope['method']} {self.service}"
        with tracer.start_as_current_span(name, context=parent, kind=SpanKind.SERVER) as span:
            span.set_attribute("http.request.method", scope["method"])
            try:
                await self.app(scope, receive, _send)
            finally:
                route = scope.get("route")
                if route is not None and hasattr(route, "path"):
                    span.update_name(f"{scope['method']} {route.path}")
                    span.set_attribute("http.route", route.path)
                span.set_attribute("http.response.status_code", status["code"])
                if status["code"] >= 500:
                    span.set_status(Status(StatusCode.ERROR))
