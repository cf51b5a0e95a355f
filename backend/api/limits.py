"""Request-body cap: an ASGI middleware that answers 413 before a large body is read."""

from __future__ import annotations

import json

from backend.models import ErrorResponse


class BodyLimit:
    """Refuse bodies over `max_bytes`: by Content-Length up front, and by counting a body sent
    without one (chunked) as it streams in."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self.refuse(send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        try:
            return await self.app(scope, counted, send)
        except BodyTooLarge:
            return await self.refuse(send)

    async def refuse(self, send) -> None:
        detail = f"the request body is larger than {self.max_bytes} bytes (MAX_BODY_BYTES)"
        body = json.dumps(ErrorResponse(detail=detail, errors=None).model_dump()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass
