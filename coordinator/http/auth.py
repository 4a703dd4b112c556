"""Who may use the console: with --require-auth, an `admin` token, sent as
`Authorization: Bearer <secret>` (scripts, curl) or kept by the browser in an
HttpOnly cookie after the login form. /healthz, /readyz, the login page and
the page's static files stay open; /metrics too with --metrics-open.

A change made with the cookie (a POST) must also carry the header
`X-Keel-Console: 1`, which a page of another site cannot send without the
browser asking us first (CORS), and we never say yes: no cross-site request
forgery. The cookie is SameSite=Strict besides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from ..core.errors import Unauthenticated
from ..core.records import Role
from ..core.tokens import Tokens
from . import keys

COOKIE = "keel_console"
CSRF_HEADER = "X-Keel-Console"
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/login", "/logout"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _is_open(request: web.Request, metrics_open: bool) -> bool:
    path = request.path
    return path in OPEN_PATHS or path.startswith("/static/") or (metrics_open and path == "/metrics")


def _refuse(request: web.Request, status: int, why: str) -> web.StreamResponse:
    if request.method == "GET" and request.path == "/":
        raise web.HTTPFound("/login")  # a person at the page: to the login form
    return web.json_response({"error": why}, status=status)


def middleware(tokens: Tokens | None, metrics_open: bool) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if tokens is None or _is_open(request, metrics_open):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.strip().partition(" ")
        from_cookie = not (scheme.lower() == "bearer" and secret.strip())
        secret = request.cookies.get(COOKIE, "") if from_cookie else secret.strip()
        try:
            caller = await tokens.authenticate(secret)
        except Unauthenticated as e:
            return _refuse(request, 401, str(e))
        if caller.role is not Role.ADMIN:
            return _refuse(request, 403, f"the console needs a token with role admin; token "
                                         f"{caller.name!r} has role {caller.role.value}")
        if from_cookie and request.method not in ("GET", "HEAD") and request.headers.get(CSRF_HEADER) != "1":
            return web.json_response({"error": f"missing header {CSRF_HEADER}: 1"}, status=403)
        return await handler(request)

    return check


async def login(request: web.Request) -> web.StreamResponse:
    """POST /login (form field `token`): check it is an admin token, keep it in the cookie."""
    tokens: Tokens | None = request.app[keys.TOKENS]
    if tokens is None:
        raise web.HTTPFound("/")
    form = await request.post()
    secret = str(form.get("token", "")).strip()
    try:
        caller = await tokens.authenticate(secret)
    except Unauthenticated as e:
        raise web.HTTPFound(f"/login?error={_quote(str(e))}") from None
    if caller.role is not Role.ADMIN:
        raise web.HTTPFound(f"/login?error={_quote('the console needs a token with role admin')}")
    response = web.HTTPFound("/")
    response.set_cookie(COOKIE, secret, httponly=True, samesite="Strict", path="/",
                        secure=request.secure)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    response = web.HTTPFound("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text[:200])
