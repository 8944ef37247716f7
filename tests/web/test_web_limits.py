"""What one client can make the real server do: request bodies refused before they are read
(413), and sign-in attempts reserved before the password is checked, also across client
addresses. Against ``invoice-inbox serve`` in a process of its own, over real HTTP."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from invoice_inbox.runtime.context import App
from invoice_inbox.store import users
from web.conftest import PASSWORD
from web.serving import Serving, serving

MB = 1024 * 1024


def _chunks(total_mb: int) -> Iterator[bytes]:
    chunk = b"[" + b"1," * (MB // 2 - 1) + b"1"  # about 1 MB of a JSON array, again and again
    for _ in range(total_mb):
        yield chunk


def _with_user(data: Path, email: str) -> None:
    a = App.open(data)
    try:
        with a.db.session() as s:
            users.create(s, email, PASSWORD, "admin")
    finally:
        a.close()


def _announced(srv: Serving, path: str, content_type: str, length: int) -> str:
    """Send only the headers of a request announcing *length* bytes: the status line that
    comes back before any of the body is sent (or a timeout if the server waits for it)."""
    host, port = srv.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
        )
        sock.sendall(head.encode())
        try:
            return sock.recv(200).decode("latin-1").split("\r\n")[0]
        except TimeoutError:
            return "no answer: the server waits for the body"


def test_oversized_bodies_are_refused_before_they_are_read(tmp_path: Path) -> None:
    with serving(tmp_path / "data") as srv:
        # announced too large: 413 at once, before a byte of the body is sent
        assert " 413 " in _announced(srv, "/api/v1/sources", "application/json", 200 * MB)
        form = "application/x-www-form-urlencoded"
        assert " 413 " in _announced(srv, "/login", form, 1024 * 1024)
        assert " 413 " in _announced(srv, "/login", "multipart/form-data; boundary=x", 50 * MB)

        before = srv.rss_kb()
        with httpx.Client(base_url=srv.url, timeout=120) as client:
            # streamed (chunked, no Content-Length): counted as it arrives, refused at the limit
            r = client.post(
                "/api/v1/sources",
                content=_chunks(200),
                headers={"Content-Type": "application/json"},
            )
            assert r.status_code == 413, r.text
            assert "too large" in r.json()["detail"]
            fields = (f"f{i}=".encode() + b"x" * MB + b"&" for i in range(200))
            r = client.post("/login", content=fields, headers={"Content-Type": form})
            assert r.status_code == 413
            assert "too large" in r.text
        grown = srv.rss_kb() - before
        # the bodies were 400 MB; the server kept at most a limit's worth of each
        assert grown < 100 * 1024, f"the server grew by {grown // 1024} MB"

        # a body within the limits still works
        r = httpx.post(srv.url + "/api/v1/sources", json={"name": "x"})
        assert r.status_code == 401


def test_parallel_wrong_sign_ins_are_evaluated_at_most_up_to_the_limit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _with_user(data, "a@x.test")
    with serving(data) as srv:

        def attempt(n: int) -> int:
            with httpx.Client(base_url=srv.url, timeout=120) as c:
                page = c.get("/login")
                token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
                assert token
                r = c.post(
                    "/login",
                    data={"email": "a@x.test", "password": f"wrong {n}", "csrf_token": token[1]},
                    # not trusted without --behind-proxy: all twenty are one client
                    headers={"X-Forwarded-For": f"198.51.100.{n}"},
                )
                return r.status_code

        with ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(attempt, range(20)))
    assert sorted(codes) == [401] * 5 + [429] * 15, codes


def _sign_in(srv: Serving, email: str, password: str, forwarded_for: str) -> httpx.Response:
    with httpx.Client(base_url=srv.url, timeout=60) as c:
        page = c.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        return c.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": token[1]},
            headers={"X-Forwarded-For": forwarded_for},
        )


def test_one_account_backs_off_across_client_addresses(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _with_user(data, "a@x.test")
    _with_user(data, "b@x.test")
    with serving(data, "--behind-proxy") as srv:
        # twelve addresses, one wrong guess each: no address reaches its own limit ...
        codes = [
            _sign_in(srv, "a@x.test", f"guess {n}", f"198.51.100.{n}").status_code
            for n in range(12)
        ]
        assert codes[:10] == [401] * 10
        assert codes[10:] == [429, 429]  # ... but the account backs off
        late = _sign_in(srv, "a@x.test", PASSWORD, "203.0.113.9")
        assert late.status_code == 429 and "Too many failed sign-ins" in late.text
        # another account is not affected
        assert _sign_in(srv, "b@x.test", PASSWORD, "198.51.100.1").status_code == 303
