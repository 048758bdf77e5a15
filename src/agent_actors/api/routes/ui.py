"""GET /ui: the inspector page, one static HTML file with its script and style sheet.

The page holds no data: it reads the JSON routes with the visitor's API key (when the
service has keys), so it is served to anyone, as /docs is. No build step: the files under
``static/`` are what the browser gets. The policy header lets the page load only its own
files and talk only to this origin.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent.parent / "static"
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
FILES = {
    "inspector.html": "text/html; charset=utf-8",
    "inspector.js": "text/javascript; charset=utf-8",
    "inspector.css": "text/css; charset=utf-8",
}


@cache
def _read(name: str) -> bytes:
    return (STATIC / name).read_bytes()


def _file(name: str) -> Response:
    return Response(
        _read(name),
        media_type=FILES[name],
        headers={
            "Content-Security-Policy": POLICY,
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        },
    )


@router.get("/ui")
async def page() -> Response:
    return _file("inspector.html")


@router.get("/ui/inspector.js")
async def script() -> Response:
    return _file("inspector.js")


@router.get("/ui/inspector.css")
async def style() -> Response:
    return _file("inspector.css")
