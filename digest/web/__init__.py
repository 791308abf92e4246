"""`digest serve`: the subscribers' pages, the archive and the private pages, on Starlette
served by uvicorn.

Why these: Starlette is a small, maintained ASGI framework (routing, requests, responses,
a request-body limit, exception handlers) with nothing we do not use; uvicorn is its
production server, with keep-alive and concurrency limits and a large listen backlog. Both
run in one process beside the mailer thread; pages that touch the store run in Starlette's
thread pool, each thread with its own SQLite connection.

    app.py        the application: routes, middleware, error pages, start and stop
    site.py       the config (the last valid one), stores, the archive's files
    guard.py      security headers, client addresses, the request deadline
    forms.py      bounded form reading and CSRF tokens
    pages.py      Jinja templates (templates/) and the error pages
    archive.py    /, /editions/ and each edition's views (public)
    joining.py    /subscribe, /confirm, /unsubscribe (public)
    preferences.py  /preferences/{token}: a subscriber's choices (public, signed link)
    private.py    /preview, /status, /login (an administrator's)
    auth.py       who is an administrator
"""

from __future__ import annotations

from digest.web.app import Server, create_app, make_server
from digest.web.site import Site

__all__ = ["Server", "Site", "create_app", "make_server"]
