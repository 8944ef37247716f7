"""Web processes hold no state of their own: two real ``serve --no-scheduler`` processes on the
same data directory (and database: SQLite, or PostgreSQL with ``--db=postgresql``), one
browser going back and forth between them as a load balancer would send it.

The first-run setup token printed by one works once on the other, and asked on both at once
the first administrator is made once; a session made on one works on the other, and failed
sign-ins on one count on the other; an OAuth sign-in begun on one is finished on the other, and
its answer replayed on the first is refused."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from fakes.oauth import FakeIdentityProvider
from invoice_inbox.runtime.context import App
from invoice_inbox.store import users
from invoice_inbox.store.models import AuthState, Source
from web.conftest import PASSWORD, csrf_of
from web.serving import Serving, serving
from web.test_web_sources import form_data

PUBLIC = "http://ap.lb.test"  # the load balancer's address, the same for both processes
CALLBACK = f"{PUBLIC}/oauth/callback"
ADMIN = "admin@x.test"


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Serving, Serving]]:
    """Process A, then process B, on one data directory, as behind a load balancer."""
    data = tmp_path / "data"
    with ExitStack() as stack:
        a = stack.enter_context(serving(data, "--no-scheduler", "--public-url", PUBLIC))
        b = stack.enter_context(serving(data, "--no-scheduler", "--public-url", PUBLIC))
        yield a, b


def add_admin(data: Path) -> None:
    app = App.open(data)
    try:
        with app.db.session() as s:
            users.create(s, ADMIN, PASSWORD, "admin")
    finally:
        app.close()


def sign_in(browser: httpx.Client, at: Serving, password: str = PASSWORD) -> httpx.Response:
    page = browser.get(f"{at.url}/login")
    assert page.status_code == 200, page.text
    form = {"email": ADMIN, "password": password, "csrf_token": csrf_of(page.text)}
    return browser.post(f"{at.url}/login", data=form)


def test_the_setup_token_printed_by_one_process_works_once_on_another(
    two: tuple[Serving, Serving],
) -> None:
    a, b = two
    token_a = parse_qs(urlsplit(a.setup_url()).query)["token"][0]
    token_b = parse_qs(urlsplit(b.setup_url()).query)["token"][0]
    assert token_a != token_b  # each process prints its own; both work everywhere
    with httpx.Client() as browser:
        page = browser.get(f"{b.url}/setup?token={token_a}")
        assert page.status_code == 200 and f'value="{token_a}"' in page.text
        form = {
            "email": ADMIN,
            "password": PASSWORD,
            "repeat": PASSWORD,
            "csrf_token": csrf_of(page.text),
        }
        made = browser.post(f"{b.url}/setup", data={**form, "token": token_a})
        assert made.status_code == 303 and made.headers["location"] == "/sources/new"
        assert browser.get(f"{a.url}/sources").status_code == 200  # B's session, on A

    for srv in (a, b):  # spent: on both processes, for both tokens
        with httpx.Client() as other:
            page = other.get(f"{srv.url}/setup?token={token_a}")
            assert page.status_code == 303 and page.headers["location"] == "/login"
            for token in (token_a, token_b):
                again = other.post(
                    f"{srv.url}/setup",
                    data={**form, "email": "evil@x.test", "token": token},
                    cookies={"ii_csrf": "t"},
                    headers={"X-CSRF-Token": "t"},
                )
                assert again.status_code in (303, 403)
    app = App.open(a.data_dir)
    try:
        with app.db.session() as s:
            assert users.count(s) == 1 and users.by_email(s, ADMIN) is not None
    finally:
        app.close()


def test_sessions_and_failed_sign_ins_are_shared_by_the_processes(
    two: tuple[Serving, Serving],
) -> None:
    a, b = two
    add_admin(a.data_dir)
    with httpx.Client() as browser:
        assert sign_in(browser, a).status_code == 303
        page = browser.get(f"{b.url}/account")  # the session made on A, on B
        assert page.status_code == 200 and ADMIN in page.text
        # the session's CSRF token is the session's (in the database), not the process's
        out = browser.post(f"{b.url}/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
        assert browser.get(f"{a.url}/account").status_code == 303  # signed out on A too

    def guess(n: int) -> int:  # from one client address, on A or B in turn
        with httpx.Client(timeout=120) as guesser:
            return sign_in(guesser, two[n % 2], f"wrong {n}").status_code

    with ThreadPoolExecutor(12) as pool:  # twelve wrong guesses at once, six on each
        codes = list(pool.map(guess, range(12)))
    assert sorted(codes) == [401] * 5 + [429] * 7, codes  # five in all, not five each
    for srv in (a, b):
        with httpx.Client() as owner:  # even the right password waits now
            refused = sign_in(owner, srv)
            assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text


def test_the_first_administrator_is_made_once_when_both_processes_are_asked_at_once(
    two: tuple[Serving, Serving],
) -> None:
    tokens = [parse_qs(urlsplit(srv.setup_url()).query)["token"][0] for srv in two]
    ready = threading.Barrier(6)

    def setup(n: int) -> str:  # each process with its own printed token, another address
        srv = two[n % 2]
        with httpx.Client(timeout=120) as browser:
            page = browser.get(f"{srv.url}/setup")
            form = {"email": f"boss{n}@x.test", "password": PASSWORD, "repeat": PASSWORD}
            form |= {"csrf_token": csrf_of(page.text), "token": tokens[n % 2]}
            ready.wait()  # the six forms are sent together
            made = browser.post(f"{srv.url}/setup", data=form)
            assert made.status_code == 303  # made it, or found it made: go and sign in
            return str(made.headers["location"])

    with ThreadPoolExecutor(6) as pool:
        went = list(pool.map(setup, range(6)))
    assert sorted(went) == ["/login"] * 5 + ["/sources/new"], went
    app = App.open(two[0].data_dir)
    try:
        with app.db.session() as s:
            assert users.count(s) == 1
    finally:
        app.close()


def test_an_oauth_sign_in_begun_on_one_process_is_finished_on_the_other(
    cloud: FakeIdentityProvider,  # first: the processes must see its addresses
    two: tuple[Serving, Serving],
) -> None:
    a, b = two
    add_admin(a.data_dir)
    t = uuid.uuid4().hex[:10]
    tenant, client, user = f"tenant-{t}", f"app-{t}", f"ap-{t}@contoso.example"
    cloud.register_client(client, tenant=tenant, redirect_uris=[CALLBACK])  # public: PKCE only
    cloud.add_user(user)
    cloud.next_login = user
    with httpx.Client() as browser:
        assert sign_in(browser, a).status_code == 303
        page = browser.get(f"{a.url}/sources/new?provider=microsoft365")
        values = {"name": "m365", "new_company": "ACME", "schedule_kind": "manual"}
        values |= {"tenant_id": tenant, "client_id": client, "username": user}
        made = browser.post(f"{a.url}/sources/new", data=form_data(page.text, **values))
        assert made.status_code == 303, made.text
        source = made.headers["location"]

        page = browser.get(f"{a.url}{source}")
        go = browser.post(f"{a.url}{source}/authenticate", data=form_data(page.text))
        assert go.status_code == 303
        assert go.headers["location"].startswith(f"{cloud.url}/{tenant}/oauth2/v2.0/authorize?")
        at_provider = httpx.get(go.headers["location"], timeout=10)
        back = urlsplit(at_provider.headers["location"])
        assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK
        answer = f"{back.path}?{back.query}"

        done = browser.get(f"{b.url}{answer}")  # the load balancer sent the answer to B
        assert done.status_code == 303 and done.headers["location"] == source
        shown = browser.get(f"{a.url}{source}")
        assert "Signed in." in shown.text

        replay = browser.get(f"{a.url}{answer}")  # the same answer again, on A: used up
        assert replay.status_code == 400
    app = App.open(a.data_dir)
    try:
        with app.db.session() as s:
            src = s.get(Source, int(source.rsplit("/", 1)[1]))
            assert src is not None and src.auth_state == AuthState.OK and src.token
    finally:
        app.close()
