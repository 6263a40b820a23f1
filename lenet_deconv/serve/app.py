"""The explorer's web app: the page, and a small JSON API over an Explorer.

Routes (every one takes only named, checked values; none takes a file path):
- ``GET /``, ``/app.js``, ``/style.css``: the page, read once from the package at start-up;
- ``GET /api/info``: layer names and shapes, modes, rules, backend, test-set size;
- ``GET /api/test-image/{index}``: one MNIST test image and its label;
- ``POST /api/explore``: an image -> prediction, activations, every channel's
  projection on the chosen layer, and the step-through of a selected channel;
- ``GET /api/top9?layer=&channel=&rule=``: a channel's strongest test images.

Arrays travel as ``{"shape": [...], "data": base64 of little-endian float32}``:
several times smaller and faster to write than JSON numbers. Errors are JSON
``{"error": "..."}`` with a 4xx status; an unexpected failure is a 500 with
a one-line message, never a traceback.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES, SELECTION_MODES
from numpy_lenet.rules import DEFAULT_RULE, RULES

from .explorer import Explorer
from .schemas import MAX_BODY_BYTES, ExploreRequest, Layer, Rule, UrlIndex, check_channel
from .steps import STAGE_LABELS

#: The page's files, served from memory under these routes with these types.
STATIC_FILES: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}

#: Everything the page loads comes from the app itself: the browser enforces it.
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def encode(array: np.ndarray) -> dict[str, Any]:
    """An array as {"shape", "data"}: its values as base64 little-endian float32."""
    data = np.ascontiguousarray(array, dtype="<f4").tobytes()
    return {"shape": list(array.shape), "data": base64.b64encode(data).decode("ascii")}


def error(status: int, message: str) -> JSONResponse:
    """A JSON error response: {"error": message}."""
    return JSONResponse({"error": message}, status_code=status, headers=SECURITY_HEADERS)


class BodyLimit:
    """ASGI middleware: refuse request bodies over ``limit`` bytes with a 413, declared or not."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        too_big = error(413, f"request body over {self.limit} bytes")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await error(400, "Content-Length is not a number")(scope, receive, send)
                return
            if size > self.limit:
                await too_big(scope, receive, send)
                return
        # Read the whole (small) body here, counting as it comes: a chunked body
        # declares no length, and the app must never see more than the limit.
        messages: list[Message] = []
        seen = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break  # the client went away; let the app see that
            seen += len(message.get("body", b""))
            if seen > self.limit:
                await too_big(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


def _where(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as text: ('body', 'image', 3, 4) -> image[3][4]."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path") else loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _validation_message(exc: RequestValidationError) -> str:
    """The first problem of a refused request, in one line."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    if first.get("type") == "json_invalid":
        return "the body is not valid JSON"
    where = _where(tuple(first.get("loc", ())))
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{where}: {message}{more}" if where else f"{message}{more}"


def create_app(explorer: Explorer) -> ASGIApp:
    """The ASGI app (FastAPI behind a body-size limit) serving the page and API for ``explorer``."""
    app = FastAPI(title="lenet-deconv explorer", docs_url=None, redoc_url=None, openapi_url=None)
    package = resources.files(__package__) / "static"
    pages = {
        route: (package.joinpath(name).read_bytes(), media)
        for route, (name, media) in STATIC_FILES.items()
    }

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error(422, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this response, so the server's log keeps the traceback.
        return error(500, f"internal error ({type(exc).__name__}); see the server's log")

    def static(route: str) -> Callable[[], Response]:
        body, media = pages[route]
        return lambda: Response(body, media_type=media, headers=SECURITY_HEADERS)

    for route in STATIC_FILES:
        app.add_api_route(route, static(route), methods=["GET"], include_in_schema=False)

    @app.get("/api/info")
    def info() -> JSONResponse:
        """What the page needs to build its menus: layers, modes, rules, backend."""
        return _json(
            {
                "layers": [{"name": n, "shape": list(LAYER_SHAPES[n])} for n in LAYER_NAMES],
                "modes": list(SELECTION_MODES),
                "rules": list(RULES),
                "default_rule": DEFAULT_RULE,
                "backend": explorer.engine.backend,
                "dtype": np.dtype(explorer.engine.dtype).name,
                "test_images": len(explorer.test_images),
                "stage_labels": STAGE_LABELS,
            }
        )

    @app.get("/api/test-image/{index}")
    def test_image(index: UrlIndex) -> JSONResponse:
        """One MNIST test image and its label."""
        count = len(explorer.test_images)
        if not 0 <= index < count:
            return error(404, f"test image {index} out of range (0..{count - 1})")
        pixels, label = explorer.test_image(index)
        return _json({"index": index, "label": label, "image": encode(pixels)})

    @app.post("/api/explore")
    def explore(request: ExploreRequest) -> JSONResponse:
        """One interaction: prediction, activations, the layer's projections, a step-through."""
        started = time.perf_counter()
        unit = None if request.unit is None else tuple(request.unit)
        image = np.asarray(request.image, dtype=np.float64)
        result = explorer.explore(
            image, request.layer, request.mode, request.rule, request.channel, unit
        )
        probabilities = result.probabilities
        body: dict[str, Any] = {
            "prediction": int(np.argmax(probabilities)),
            "probabilities": [float(p) for p in probabilities],
            "activations": {name: encode(a) for name, a in result.activations.items()},
            "layer": request.layer,
            "mode": request.mode,
            "rule": request.rule,
            "projections": encode(result.projections),
            "channel": request.channel,
            "unit": request.unit,
            "stages": None
            if result.stages is None
            else [
                {"block": s.block, "stage": s.stage, "signal": encode(s.signal)}
                for s in result.stages
            ],
        }
        return _json(body, started)

    @app.get("/api/top9")
    def top9(
        layer: Layer,
        channel: UrlIndex,
        rule: Rule = DEFAULT_RULE,
    ) -> JSONResponse:
        """A channel's strongest test images and the projections of their strongest units."""
        started = time.perf_counter()
        try:
            check_channel(layer, channel)
        except ValueError as exc:
            return error(422, f"channel: {exc}")
        top = explorer.top_images(layer, channel, rule)
        return _json(
            {
                "layer": layer,
                "channel": channel,
                "rule": rule,
                "indices": [int(i) for i in top.indices],
                "labels": [int(i) for i in top.labels],
                "values": [float(v) for v in top.values],
                "units": [list(u) for u in top.units],
                "images": encode(top.images),
                "projections": encode(top.projections),
            },
            started,
        )

    return BodyLimit(app, MAX_BODY_BYTES)


def _json(body: dict[str, Any], started: float | None = None) -> JSONResponse:
    """A JSON response with the security headers and, if timed, a Server-Timing header."""
    headers = dict(SECURITY_HEADERS)
    if started is not None:
        headers["Server-Timing"] = f"compute;dur={1000 * (time.perf_counter() - started):.2f}"
    return JSONResponse(body, headers=headers)
