"""The dashboard's pages and JSON on the coordinator's HTTP address.

Login: an API token posted by the login form, or a one-time code from ``meshctl dashboard``
(``/login?code=…``); either opens a session whose id is an HttpOnly, Secure, SameSite=Strict
cookie. Every POST but the login carries the session's CSRF token (``X-CSRF-Token`` or a
``csrf`` form field). The assets are files of this package: nothing comes from elsewhere.
"""
from __future__ import annotations

import html
import json
import logging
from collections.abc import Callable
from http import cookies
from pathlib import Path
from urllib.parse import parse_qsl, quote

from llmesh.common import tls
from llmesh.common.errors import MeshError
from llmesh.coordinator.auth import USER_TOKEN_PREFIX
from llmesh.coordinator.identity import Caller
from llmesh.coordinator.observe.dashboard_api import DashboardApi
from llmesh.coordinator.observe.sessions import Session, Sessions, csrf_ok

log = logging.getLogger("llmesh.coordinator.dashboard")

COOKIE = "llmesh_session"
ASSETS = Path(__file__).parent / "dashboard"
FILES = {"/": ("index.html", "text/html"), "/static/app.js": ("app.js", "text/javascript"),
         "/static/style.css": ("style.css", "text/css"), "/favicon.ico": ("favicon.svg", "image/svg+xml")}
MAX_BODY = 64 * 1024
STATUS = {"INVALID_ARGUMENT": 400, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
          "FAILED_PRECONDITION": 409, "ALREADY_EXISTS": 409}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
}


class Dashboard:
    def __init__(self, api: DashboardApi, run: Callable):
        self.api = api
        self.run = run  # runs a coroutine on the coordinator's loop, from an HTTP thread
        self.sessions = Sessions()

    # -- routing --------------------------------------------------------------------------

    def get(self, handler, path: str, args: dict) -> bool:
        """Serves a dashboard path; False for a path that is not one."""
        if path == "/login":
            if args.get("code"):
                self._spend_code(handler, args["code"], _landing(args))
            else:
                self._login_page(handler, 200, "")
        elif path in FILES:
            if path == "/" and self._session(handler) is None:
                handler.reply(303, b"", {"Location": "/login"})
            else:
                self._file(handler, *FILES[path])
        elif path.startswith("/api/"):
            self._api_get(handler, path[len("/api/"):], args)
        else:
            return False
        return True

    def post(self, handler, path: str) -> bool:
        if path == "/login":
            self._login(handler, self._form(handler))
        elif path == "/api/login-code":
            self._login_code(handler)
        elif path == "/logout":
            session_id, session = self._session_pair(handler)
            form = self._form(handler)
            if session is None or not csrf_ok(session, form.get("csrf") or handler.headers.get("X-CSRF-Token", "")):
                self._json(handler, 403, {"error": "a logout needs the page's CSRF token"})
                return True
            self.sessions.close(session_id)
            handler.reply(303, b"", {"Location": "/login", "Set-Cookie": _cookie("", 0)})
        elif path.startswith("/api/"):
            self._api_post(handler, path[len("/api/"):])
        else:
            return False
        return True

    # -- logins ---------------------------------------------------------------------------

    def _user(self, token: str) -> tuple[dict, str] | None:
        try:
            _, secret = tls.parse_token(token, USER_TOKEN_PREFIX)
            hashed = tls.secret_hash(secret)
            return self.run(self.api.user(hashed)), hashed
        except MeshError:
            return None

    def _login(self, handler, form: dict) -> None:
        found = self._user(form.get("token") or "")
        if found is None:
            self._login_page(handler, 401, "That token was not accepted: paste an API token (meshctl user add …).")
            return
        user, hashed = found
        session_id, _ = self.sessions.open(user["name"], user["role"], hashed)
        log.info("dashboard login: %s (%s)", user["name"], user["role"])
        handler.reply(303, b"", {"Location": "/", "Set-Cookie": _cookie(session_id)})

    def _login_code(self, handler) -> None:
        """``meshctl dashboard``: a Bearer API token buys a one-time login code."""
        scheme, _, token = handler.headers.get("Authorization", "").partition(" ")
        found = self._user(token) if scheme.lower() == "bearer" else None
        if found is None:
            self._json(handler, 401, {"error": "an API token is needed: Authorization: Bearer L10..."})
            return
        user, hashed = found
        code = self.sessions.new_code(user["name"], user["role"], hashed)
        self._json(handler, 200, {"code": code, "path": f"/login?code={code}", "user": user["name"]})

    def _spend_code(self, handler, code: str, landing: str) -> None:
        opened = self.sessions.spend_code(code)
        if opened is None:
            self._login_page(handler, 401, "That login link was used already or has expired: "
                                           "run meshctl dashboard again, or paste an API token.")
            return
        # A page of our own that moves on to /: the Strict cookie is then sent on a same-site navigation.
        url = html.escape(landing, quote=True)
        body = f'<!doctype html><meta http-equiv="refresh" content="0;url={url}"><a href="{url}">Continue</a>'.encode()
        handler.reply(200, body, {"Content-Type": "text/html; charset=utf-8", "Set-Cookie": _cookie(opened[0]),
                                  **SECURITY_HEADERS})

    def _session_pair(self, handler) -> tuple[str, Session | None]:
        jar = cookies.SimpleCookie()
        try:
            jar.load(handler.headers.get("Cookie", ""))
        except cookies.CookieError:
            return "", None
        session_id = jar[COOKIE].value if COOKIE in jar else ""
        session = self.sessions.get(session_id) if session_id else None
        if session is not None and self._user_gone(session):
            self.sessions.close(session_id)
            session = None
        return session_id, session

    def _user_gone(self, session: Session) -> bool:
        try:
            user = self.run(self.api.user(session.token_hash))
        except MeshError:
            return True
        session.role = user["role"]
        return False

    def _session(self, handler) -> Session | None:
        return self._session_pair(handler)[1]

    # -- JSON -----------------------------------------------------------------------------

    def _api_get(self, handler, view: str, args: dict) -> None:
        session = self._session(handler)
        if session is None:
            self._json(handler, 401, {"error": "log in first", "login": "/login"})
            return
        caller = Caller(session.user, session.role, "user", handler.client_address[0])
        try:
            body = self.run(self.api.get(view, args, caller))
        except MeshError as exc:
            self._json(handler, STATUS.get(exc.code, 503), {"error": str(exc)})
            return
        if view == "me":
            body["csrf"] = session.csrf
        self._json(handler, 200, body)

    def _api_post(self, handler, action: str) -> None:
        session = self._session(handler)
        form = self._form(handler)
        if session is None:
            self._json(handler, 401, {"error": "log in first", "login": "/login"})
            return
        if not csrf_ok(session, handler.headers.get("X-CSRF-Token", "") or form.get("csrf", "")):
            self._json(handler, 403, {"error": "missing or wrong CSRF token"})
            return
        caller = Caller(session.user, session.role, "user", handler.client_address[0])
        try:
            self._json(handler, 200, self.run(self.api.post(action, form, caller)))
        except MeshError as exc:
            self._json(handler, STATUS.get(exc.code, 503), {"error": str(exc)})

    # -- bodies ---------------------------------------------------------------------------

    def _form(self, handler) -> dict:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(min(length, MAX_BODY)) if length > 0 else b""
        if handler.headers.get("Content-Type", "").startswith("application/json"):
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                return {}
            return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        return dict(parse_qsl(raw.decode("utf-8", "replace")))

    def _json(self, handler, status: int, body: dict) -> None:
        handler.reply(status, json.dumps(body, default=str).encode(),
                      {"Content-Type": "application/json", **SECURITY_HEADERS})

    def _file(self, handler, name: str, kind: str) -> None:
        handler.reply(200, (ASSETS / name).read_bytes(), {"Content-Type": f"{kind}; charset=utf-8",
                                                          **SECURITY_HEADERS})

    def _login_page(self, handler, status: int, error: str) -> None:
        page = (ASSETS / "login.html").read_text().replace(
            "<!--error-->", f'<p class="error" id="login-error">{html.escape(error)}</p>' if error else "")
        handler.reply(status, page.encode(), {"Content-Type": "text/html; charset=utf-8", **SECURITY_HEADERS})


def _landing(args: dict) -> str:
    """Where a login link lands: / or one view of it (``view=jobs``, ``q=`` its search)."""
    view = args.get("view") or ""
    if not view.isalpha():
        return "/"
    return f"/#{view}" + (f"/{quote(args['q'], safe='')}" if args.get("q") else "")


def _cookie(session_id: str, max_age: int | None = None) -> str:
    value = f"{COOKIE}={session_id}; Path=/; HttpOnly; Secure; SameSite=Strict"
    return value + (f"; Max-Age={max_age}" if max_age is not None else "")
