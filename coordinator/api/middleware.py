"""ASGI middleware of the gateway: a body cap, an error boundary, and a policy for the documentation pages.

All are plain ASGI so they see the body as it streams in. A declared Content-Length past the cap is
refused before a byte is read, a body without one (or lying) is cut off at the first chunk past it, and a
body still arriving after the read deadline is refused with 408, so a slow client cannot hold a request.
The error boundary answers a JSON 500 itself instead of letting the exception reach the server: uvicorn
closes a connection whose application raised, which reset the client's next request on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping

import anyio
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coordinator.audit.refusals import RequestDigest

log = logging.getLogger(__name__)

_METER_KEY = "dataspace.body_meter"
TooLargeHook = Callable[[Scope, int | None, int], Awaitable[None]]


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when the body passes the cap; FastAPI lets HTTP exceptions through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")


class BodyTooSlow(HTTPException):
    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the request body did not arrive within {seconds:g} s")


class _BodyMeter:
    """Size and SHA-256 of the body read so far."""

    def __init__(self) -> None:
        self.size = 0
        self._hash = hashlib.sha256()

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._hash.update(chunk)

    def digest(self) -> RequestDigest:
        return RequestDigest(self._hash.hexdigest(), self.size)


def request_digest(scope: Scope) -> RequestDigest:
    """Digest and size of the request body as far as it was read (all of it once a route parsed it)."""
    meter = scope.get(_METER_KEY)
    return meter.digest() if isinstance(meter, _BodyMeter) else RequestDigest.of(b"")


class BodyLimitMiddleware:
    """413 for a body past ``limit`` bytes, 408 for one not read within ``read_timeout_s`` seconds.

    ``on_declared_too_large`` runs (to audit) before a 413 answered from the Content-Length alone.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        read_timeout_s: float,
        on_declared_too_large: TooLargeHook | None = None,
        larger: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.limit = limit
        # Paths (regular expressions, matched whole) allowed a larger body, e.g. uploads.
        self.larger = [(re.compile(pattern), size) for pattern, size in (larger or {}).items()]
        self.read_timeout_s = read_timeout_s
        self.on_declared_too_large = on_declared_too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        meter = scope[_METER_KEY] = _BodyMeter()
        path = scope.get("path", "")
        limit = next((size for pattern, size in self.larger if pattern.fullmatch(path)), self.limit)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            if self.on_declared_too_large is not None:
                await self.on_declared_too_large(scope, declared, limit)
            await send_error(send, 413, "request_too_large", f"the request body exceeds {limit} bytes")
            return

        deadline = time.monotonic() + self.read_timeout_s

        async def counted() -> Message:
            with anyio.move_on_after(deadline - time.monotonic()) as waiting:
                message = await receive()
            if waiting.cancelled_caught:
                raise BodyTooSlow(self.read_timeout_s)
            if message["type"] == "http.request":
                meter.update(message.get("body", b""))
                if meter.size > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


class ErrorBoundaryMiddleware:
    """Catch what escaped every handler: log it and answer a JSON 500 on a connection that stays usable."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # half a response is on the wire: only closing the connection can end it
            await send_error(send, 500, "internal_error", "the coordinator failed to answer this request")


class LocalAssetsPolicyMiddleware:
    """Adds a Content-Security-Policy to the responses of ``paths``: they may load only what we serve.

    ReDoc would otherwise fetch its logo from its vendor's CDN. Inline scripts and styles are how FastAPI
    writes both documentation pages; ReDoc's search runs in a blob worker.
    """

    POLICY = (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'"
    )

    def __init__(self, app: ASGIApp, paths: frozenset[str]) -> None:
        self.app, self.paths = app, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"content-security-policy", self.POLICY.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_policy)


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "details": {}}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
