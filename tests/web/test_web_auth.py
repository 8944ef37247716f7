"""Signing in: first-run setup, login, sessions in cookies, CSRF, logout, rate limiting."""

from __future__ import annotations

from invoice_inbox.store import users
from web.conftest import PASSWORD, Web, csrf_of


def test_first_run_setup_creates_the_admin_and_then_is_gone(web: Web) -> None:
    c = web.client()
    assert c.get("/sources").headers["location"] == "/setup"
    assert c.get("/login").headers["location"] == "/setup"
    setup = web.setup_token
    page = c.get(f"/setup?token={setup}")
    assert page.status_code == 200 and "Create administrator" in page.text
    token = csrf_of(page.text)
    r = c.post(
        "/setup",
        data={
            "email": "a@x.test",
            "password": "short",
            "repeat": "short",
            "csrf_token": token,
            "token": setup,
        },
    )
    assert r.status_code == 422
    assert "at least 10 characters" in r.text
    r = c.post(
        "/setup",
        data={
            "email": "Boss@X.test",
            "password": PASSWORD,
            "repeat": PASSWORD,
            "csrf_token": token,
            "token": setup,
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/sources/new"
    cookie = r.headers["set-cookie"]
    assert "ii_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback; behind TLS it is Secure
    with web.app.db.session() as s:
        user = users.by_email(s, "boss@x.test")
        assert user is not None and user.role == "admin"
        assert user.password_hash.startswith("$argon2id$")
    assert web.client().get("/setup").headers["location"] == "/login"  # only once
    again = web.client().post(
        "/setup",
        data={"email": "evil@x.test", "password": PASSWORD, "repeat": PASSWORD, "token": setup},
        cookies={"ii_csrf": "t"},
        headers={"X-CSRF-Token": "t"},
    )
    assert again.status_code == 303 and again.headers["location"] == "/login"
    with web.app.db.session() as s:
        assert users.count(s) == 1


def test_login_wrong_password_then_right_one_and_logout(web: Web) -> None:
    web.user("clerk@x.test", "clerk", ("ACME",))
    c = web.client()
    assert c.get("/documents").headers["location"] == "/login?next=/documents"
    form = c.get("/login?next=/documents")
    token = csrf_of(form.text)
    bad = c.post(
        "/login",
        data={"email": "clerk@x.test", "password": "wrong password", "csrf_token": token},
    )
    assert bad.status_code == 401
    assert "The e-mail address or the password is wrong." in bad.text
    ok = c.post(
        "/login",
        data={
            "email": "CLERK@x.test",
            "password": PASSWORD,
            "next": "/documents",
            "csrf_token": token,
        },
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/documents"
    page = c.get("/sources")
    assert page.status_code == 200 and "clerk@x.test" in page.text
    out = c.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert c.get("/sources").status_code == 303  # the session is gone on the server too


def test_next_never_leaves_the_site(web: Web) -> None:
    web.user("a@x.test")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        c = web.client()
        token = csrf_of(c.get("/login").text)
        r = c.post(
            "/login",
            data={"email": "a@x.test", "password": PASSWORD, "next": target, "csrf_token": token},
        )
        assert r.headers["location"] == "/sources"


def test_forms_without_the_csrf_token_are_refused(web: Web) -> None:
    web.user("a@x.test")
    anonymous = web.client()
    r = anonymous.post("/login", data={"email": "a@x.test", "password": PASSWORD})
    assert r.status_code == 403 and "did not come from this site" in r.text
    b = web.browser("a@x.test")
    assert b.post("/logout").status_code == 403
    assert b.post("/logout", data={"csrf_token": "guess"}).status_code == 403
    assert b.get("/sources").status_code == 200  # still signed in
    assert b.form("/logout").status_code == 303


def test_login_is_rate_limited_per_address(web: Web) -> None:
    web.user("a@x.test")
    c = web.client()
    token = csrf_of(c.get("/login").text)
    codes = [
        c.post(
            "/login", data={"email": "a@x.test", "password": f"nope {i}", "csrf_token": token}
        ).status_code
        for i in range(6)
    ]
    assert codes == [401] * 5 + [429]
    right = c.post("/login", data={"email": "a@x.test", "password": PASSWORD, "csrf_token": token})
    assert right.status_code == 429 and "Too many failed sign-ins" in right.text
    other = web.client()  # the same client address, another account: still allowed
    web.user("b@x.test")
    r = other.post(
        "/login",
        data={"email": "b@x.test", "password": PASSWORD, "csrf_token": token},
        cookies={"ii_csrf": token},
    )
    assert r.status_code == 303


def test_an_overlong_address_is_refused_before_the_limiter_counts_it(web: Web) -> None:
    web.user("a@x.test")
    c = web.client()
    token = csrf_of(c.get("/login").text)
    long = "a" * 400 + "@x.test"
    r = c.post("/login", data={"email": long, "password": "x", "csrf_token": token})
    assert r.status_code == 400 and "at most 320 characters" in r.text
    assert len(web.asgi.state.web.limiter) == 0


def test_pages_and_api_send_protective_headers(web: Web) -> None:
    r = web.client().get("/login")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_healthz_and_metrics_are_served_by_the_web_app(web: Web) -> None:
    c = web.client()
    assert c.get("/healthz").json()["status"] == "ok"
    assert "invoice_inbox_" in c.get("/metrics").text


def test_api_without_a_token_is_401(web: Web) -> None:
    r = web.client().get("/api/v1/sources")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    r = web.client(headers={"Authorization": "Bearer iit_not-a-token"}).get("/api/v1/sources")
    assert r.status_code == 401
