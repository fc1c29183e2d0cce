"""A stand-in for OpenAI's paid images API, for tests only: `POST /v1/images/generations` over
real HTTP, answering with the documented response (`{"created", "data": [{"b64_json"}]}` or
`[{"url"}]`) or the documented error envelope. Each request takes the next step of `script`:
"b64", "url", or an HTTP status."""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ERRORS = {
    400: ("invalid_request_error", "Your request was rejected by the safety system.", "prompt"),
    401: ("invalid_request_error", "Incorrect API key provided: sk-abc***xyz.", None),
    429: ("rate_limit_exceeded", "Rate limit reached for images per minute.", None),
    500: ("server_error", "The server had an error while processing your request.", None),
}


def sample_png(width: int = 1024, height: int = 1024) -> bytes:
    out = io.BytesIO()
    Image.radial_gradient("L").resize((width, height)).convert("RGB").save(out, "PNG")
    return out.getvalue()


@dataclass
class ImagesStandIn:
    script: list[str | int] = field(default_factory=lambda: ["b64"])
    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    image: bytes = field(default_factory=sample_png)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/images/generations", self._generate, methods=["POST"]),
                Route("/files/image.png", self._file),
            ]
        )

    async def _generate(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("authorization")})
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, int):
            kind, message, param = ERRORS[step]
            headers = {"retry-after": "1"} if step == 429 else None
            return JSONResponse(
                {"error": {"message": message, "type": kind, "param": param, "code": None}},
                status_code=step,
                headers=headers,
            )
        item = (
            {"b64_json": base64.b64encode(self.image).decode()}
            if step == "b64"
            else {"url": f"{self.base_url}/files/image.png"}
        )
        return JSONResponse({"created": int(time.time()), "data": [item]})

    async def _file(self, request: Request) -> Response:
        return Response(self.image, media_type="image/png")
