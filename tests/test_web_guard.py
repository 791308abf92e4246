"""digest serve facing the internet: bounded bodies and slow clients, security headers,
error pages without tracebacks, a broken config file, and the private pages' doors."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from digest import tokens
from digest.store import open_store, utcnow
from digest.web import guard

from .website import SECRET, Site, csrf_of, running_site

ADMIN = "correct horse battery staple"


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    monkeypatch.setattr(guard, "REQUEST_DEADLINE", 1.0)
    with running_site(tmp_path, web_options="max_body_bytes = 4096") as running:
        yield running


def raw(site: Site, request: bytes, *, read_for: float = 10.0) -> bytes:
    """Send ``request`` as it is on one connection; what came back before the server closed."""
    with socket.create_connection(("127.0.0.1", site.server.port), timeout=read_for) as sock:
        with contextlib.suppress(OSError):  # the server may close before a flood is sent
            sock.sendall(request)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def post_head(length: str, extra: str = "") -> bytes:
    return (
        f"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {length}\r\n{extra}Connection: close\r\n\r\n"
    ).encode()


def test_bad_or_huge_content_lengths_are_refused(site: Site) -> None:
    assert status_of(raw(site, post_head("-1"))) == 400
    assert status_of(raw(site, post_head("twelve"))) == 400
    assert status_of(raw(site, post_head("300000000") + b"email=a")) == 413


def test_a_chunked_flood_stops_at_the_limit(site: Site) -> None:
    head = (
        b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
        b"\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (1024, b"a" * 1024)
    answer = raw(site, head + chunk * 2000)  # 2 MB offered; the limit is 4 KB
    assert status_of(answer) == 413


def test_a_client_that_sends_slowly_is_cut_off(site: Site) -> None:
    with socket.create_connection(("127.0.0.1", site.server.port), timeout=10) as sock:
        sock.sendall(b"GET /editions/ HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        assert sock.recv(100) == b"", "closed without an answer"
        assert time.monotonic() - started < 8
    with socket.create_connection(("127.0.0.1", site.server.port), timeout=10) as sock:
        sock.sendall(post_head("100")[:-2].replace(b"Connection: close\r\n", b"") + b"\r\nemail")
        assert sock.recv(100) == b""


def test_every_answer_carries_the_security_headers(site: Site) -> None:
    with site.client() as client:
        for path in ("/editions/", "/subscribe", "/nowhere", "/editions/2026-03-10/"):
            response = client.get(path)
            policy = response.headers["content-security-policy"]
            assert "frame-ancestors 'self'" in policy and "default-src 'none'" in policy
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "strict-transport-security" not in response.headers, "plain http"
            assert "server" not in response.headers


def test_hsts_only_behind_https_from_a_trusted_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_SECRET", SECRET)
    trusting = running_site(tmp_path, web_options='trusted_proxies = ["127.0.0.1"]')
    with trusting as site, site.client(**{"X-Forwarded-Proto": "https"}) as client:
        assert client.get("/editions/").headers["strict-transport-security"].startswith("max-age=")
        form = client.get("/subscribe")
        assert "secure" in form.headers["set-cookie"].lower()
    with (
        running_site(tmp_path / "b") as site,
        site.client(**{"X-Forwarded-Proto": "https"}) as client,
    ):
        assert "strict-transport-security" not in client.get("/editions/").headers


def test_errors_are_pages_without_tracebacks(site: Site) -> None:
    with site.client() as client:
        cases = {
            "/nowhere": 404,
            "/editions/1999-01-01/": 404,
            "/editions/../../etc/passwd/": 404,
            "/editions/2026-03-10/nonsense": 404,
            "/editions/?before=%00": 400,
            "/confirm?t=%FF%FE": 400,
        }
        for path, expected in cases.items():
            response = client.get(path)
            assert response.status_code == expected, path
            assert response.headers["content-type"].startswith("text/html"), path
            assert "<h1>" in response.text and "Traceback" not in response.text, path
        wrong = client.request("DELETE", "/subscribe")
        assert wrong.status_code == 405 and "Traceback" not in wrong.text
        garbled = client.post(
            "/subscribe",
            content=b"email=%FF%FE&csrf=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert garbled.status_code in (400, 403) and "Traceback" not in garbled.text


def test_unsubscribing_works_while_the_config_file_is_broken(site: Site) -> None:
    with site.store() as store:
        store.add_subscriber("ana@example.com", now=utcnow())
    token = tokens.sign("ana@example.com", "unsubscribe", SECRET)
    site.config_path.write_text("this is = not [valid toml", encoding="utf-8")
    with site.client() as client:
        assert client.get(f"/unsubscribe?t={token}").status_code == 200
        done = client.post(f"/unsubscribe?t={token}", content=b"List-Unsubscribe=One-Click")
        assert done.status_code == 200 and "You are unsubscribed" in done.text
        assert client.get("/editions/").status_code == 200
        # The preview tells an editor on this machine what is wrong...
        assert "digest.toml" in client.get("/preview").text
        # ...and nobody who comes through a proxy, nor what the config holds.
        relayed = client.get("/preview", headers={"X-Forwarded-For": "203.0.113.7"})
        assert relayed.status_code == 403 and "toml" not in relayed.text
    with open_store(site.web.config.data_dir) as store:
        assert store.subscriber_status("ana@example.com") == "unsubscribed"


def test_without_a_password_the_private_pages_are_for_this_machine_only(site: Site) -> None:
    with site.client() as client:
        assert client.get("/status").status_code == 200
        for path in ("/status", "/preview", "/preview/version", "/editions/preview/"):
            response = client.get(path, headers={"X-Forwarded-For": "203.0.113.7"})
            assert response.status_code == 403, path
            assert "DIGEST_ADMIN_PASSWORD" in response.text


def test_with_a_password_the_dashboard_needs_a_login(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIGEST_ADMIN_PASSWORD", ADMIN)
    with site.client() as client:
        door = client.get("/status")
        assert door.status_code == 303 and door.headers["location"] == "/login?next=/status"
        login = client.get("/login?next=/status")
        wrong = client.post(
            "/login", data={"csrf": csrf_of(login), "password": "guess", "next": "/status"}
        )
        assert wrong.status_code == 403 and "not the password" in wrong.text
        forged = client.post("/login", data={"csrf": "x.y", "password": ADMIN})
        assert forged.status_code == 403
        right = client.post(
            "/login",
            data={"csrf": csrf_of(login), "password": ADMIN, "next": "//evil.example/"},
        )
        assert right.status_code == 303 and right.headers["location"] == "/status"
        cookie = right.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        dashboard = client.get("/status")
        assert dashboard.status_code == 200
        for heading in ("Subscribers", "Recent editions", "Failures", "Sources"):
            assert f"<h2>{heading}</h2>" in dashboard.text
        assert client.post("/logout", data={"csrf": csrf_of(dashboard)}).status_code == 303
        assert client.get("/status").status_code == 303


def test_the_archive_lists_a_page_at_a_time_from_the_store(site: Site) -> None:
    from datetime import date, timedelta

    from digest.models import Email

    with site.store() as store:
        day = date(2025, 1, 1)
        for n in range(2, 122):
            key = (day + timedelta(days=n)).isoformat()
            store.save_edition(
                Email(key, f"Issue {n}", "<p>x</p>", "x", ""),
                number=n,
                built=utcnow(),
                article_ids=[],
            )
    with site.client() as client:
        first = client.get("/editions/")
        assert first.text.count('<li><a href="/editions/') == 50
        older = first.text.split('href="/editions/?before=')[1].split('"')[0]
        second = client.get(f"/editions/?before={older}")
        # The newest (issue 1, 2026-03-10), then 121 down to 73; the next page goes on at 72.
        assert "issue 73:" in first.text and "issue 72:" not in first.text
        assert "issue 72:" in second.text and "issue 73:" not in second.text
        assert second.text.count('<li><a href="/editions/') == 50
