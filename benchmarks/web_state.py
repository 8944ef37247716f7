"""What keeping the web processes' state in the database costs per request.

All in this process, on a fresh data directory in a temporary directory (``App.open``: SQLite,
or PostgreSQL when ``INVOICE_INBOX_DATABASE_URL`` is set):

- baseline: the password check every sign-in does anyway (``users.verify_password``, argon2);
- the sign-in limiter (``web.ratelimit``): a reservation that is allowed plus its
  ``succeeded`` (a right password), a wrong guess, and a refused reservation;
- an OAuth sign-in kept and taken (``web.oauth_state``: encrypt, insert, read, conditional
  delete, decrypt).

Prints the median and p95 in milliseconds of ``--runs`` repetitions and each figure's ratio to
the baseline. Run it from the repository root::

    .venv/bin/python benchmarks/web_state.py [--runs 50] [--json]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from invoice_inbox.auth import oauth, oauth_signin
from invoice_inbox.runtime.context import App
from invoice_inbox.store import sources, users
from invoice_inbox.web import oauth_state
from invoice_inbox.web.ratelimit import LoginLimiter

PASSWORD = "correct horse battery"


def timed(fn: Callable[[int], object], runs: int) -> dict[str, float]:
    times = []
    for i in range(runs):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95) - 1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = App.open(Path(tmp) / "data")
        try:
            results = measure(app, args.runs)
            results["database"] = app.db.engine.dialect.name
        finally:
            app.close()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    base = results["baseline: password check"]["median_ms"]
    print(f"database: {results.pop('database')}, {args.runs} runs each")
    for name, r in results.items():
        ratio = r["median_ms"] / base
        print(
            f"{name:42} median {r['median_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms  {ratio:5.2f}x"
        )


def measure(app: App, runs: int) -> dict[str, dict[str, float]]:
    with app.db.session() as s:
        user = users.create(s, "bench@x.test", PASSWORD, "admin")
        source_id = sources.add(
            s,
            name="m365",
            company_name="ACME",
            host="127.0.0.1",
            port=993,
            security="ssl",
            username="ap@x.test",
            secret=None,
        ).id
    limiter = LoginLimiter(app.db, per_account_client=3, per_client=10**9)
    ep = oauth.microsoft("contoso.example")
    results: dict[str, dict[str, float]] = {}
    results["baseline: password check"] = timed(
        lambda _: users.verify_password(user, PASSWORD), runs
    )

    def right(i: int) -> None:
        limiter.succeeded(limiter.attempt(f"10.0.{i // 250}.{i % 250}", "bench@x.test"))

    results["limiter: reserve + succeeded"] = timed(right, runs)
    results["limiter: reserve (a wrong guess)"] = timed(
        lambda i: limiter.attempt(f"10.1.{i // 250}.{i % 250}", f"guess{i}@x.test"), runs
    )
    for _ in range(3):
        limiter.attempt("10.9.9.9", "bench@x.test")
    results["limiter: refused"] = timed(lambda _: limiter.attempt("10.9.9.9", "bench@x.test"), runs)

    def sign_in(_: int) -> None:
        auth = oauth_signin.authorization_request(ep, "app", ["Mail.Read"], "http://x.test/cb")
        pending = oauth_state.Pending("sign-in", source_id, user.id, ep, "app", auth)
        oauth_state.keep(app, auth.state, pending)
        assert oauth_state.take(app, auth.state, user.id) is not None
        assert oauth_state.take(app, secrets.token_urlsafe(8), user.id) is None

    results["oauth state: keep + take (+ a miss)"] = timed(sign_in, runs)
    return results


if __name__ == "__main__":
    main()
