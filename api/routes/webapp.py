"""PlugAI, the web app, served from its build (``frontend/dist``): ``/`` and the app's own routes answer
``index.html`` (the app routes in the browser), ``/assets/*`` are content-hashed files cached for a year.

The route's pattern leaves ``/v1``, ``/openai``, ``/health``, ``/ready`` and ``/metrics`` to the API: an unknown
path there is still the API's 404. A gateway started without a build answers a page that says how to make one.
"""

from __future__ import annotations

from pathlib import Path

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, file, html

from api.request import services
from domain.errors import NotFound

bp = Blueprint("webapp")

SOURCE_DIST = Path(__file__).resolve().parents[2] / "frontend" / "dist"
API_PREFIXES = r"(?!(?:v1|openai)(?:/|$)|(?:health|ready|metrics)$)"
IMMUTABLE = "public, max-age=31536000, immutable"
#: The app renders model output as text or sanitised markdown; this policy is the second line of defence.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self' data: blob:; connect-src * data: blob:; worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "cache-control": "no-cache",
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PlugAI is not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>PlugAI is not built yet</h1>
<p>This gateway serves the PlugAI web app from <code>{dist}</code>, which has no <code>index.html</code>.</p>
<p>Build it from the repository root, then reload this page:</p>
<pre>make run            # builds the app when it is missing or stale, then serves it
# or, by hand:
npm ci && npm run build</pre>
<p>The API itself works: <a href="/health">/health</a>, <code>/v1/...</code> with an API key.</p>
</body></html>
"""


def dist_dir(request: Request) -> Path:
    return Path(services(request).settings.web_dir or SOURCE_DIST).resolve()


async def index(request: Request) -> HTTPResponse:
    dist = dist_dir(request)
    page = dist / "index.html"
    if not page.is_file():
        return html(NOT_BUILT.format(dist=dist), headers={"cache-control": "no-cache"})
    return await file(
        page, mime_type="text/html; charset=utf-8", headers=dict(PAGE_HEADERS), request_headers=request.headers
    )


@bp.get("/")
async def root(request: Request) -> HTTPResponse:
    return await index(request)


@bp.get(f"/<path:{API_PREFIXES}[^/].*>")
async def app_path(request: Request, path: str) -> HTTPResponse:
    """A built file (hashed ones under ``assets/`` cached for good), else the app's ``index.html``."""
    dist = dist_dir(request)
    target = (dist / path).resolve()
    if target != dist and target.is_relative_to(dist) and target.is_file() and not target.name.startswith("."):
        cache = IMMUTABLE if target.parent == dist / "assets" else "no-cache"
        return await file(
            target,
            headers={"cache-control": cache, "x-content-type-options": "nosniff"},
            request_headers=request.headers,
        )
    if path.startswith("assets/"):
        raise NotFound(f"No file /{path} in the web app's build (rebuild it, or reload the page).")
    return await index(request)
