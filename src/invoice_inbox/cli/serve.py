"""``invoice-inbox serve`` and ``worker``: the always-on service."""

from __future__ import annotations

import logging
import os
import secrets
import signal
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from invoice_inbox.cli.base import UserError, app, err, out, state
from invoice_inbox.connectors import dns
from invoice_inbox.connectors.smtp_inbound import InboundSettings
from invoice_inbox.delivery import egress
from invoice_inbox.delivery.notify import Channels
from invoice_inbox.runtime import logs
from invoice_inbox.runtime.context import App
from invoice_inbox.runtime.scheduler import Scheduler
from invoice_inbox.runtime.service import Service, ServiceConfig
from invoice_inbox.store import sources as sources_store
from invoice_inbox.store import users
from invoice_inbox.web.hosts import HostPolicy, InvalidHost

if TYPE_CHECKING:
    from invoice_inbox.web.server import WebServer


class LogFormat(StrEnum):
    text = "text"
    json = "json"


LogOpt = Annotated[
    LogFormat, typer.Option("--log-format", help="text, or json: one object per line.")
]
WorkersOpt = Annotated[int, typer.Option(help="How many sources are fetched at the same time.")]
PrivateHooksOpt = Annotated[
    bool,
    typer.Option(
        "--allow-private-webhooks",
        envvar=egress.ENV_ALLOW,
        help="Let webhooks go to loopback, private and link-local addresses (refused by default).",
    ),
]


DnsOpt = Annotated[
    str | None,
    typer.Option(
        "--dns-server",
        envvar=dns.ENV_DNS_SERVER,
        help="The DNS server (IP:PORT) sender authentication asks; default: the system's.",
    ),
]


def use_dns_server(value: str | None) -> None:
    """--dns-server for this process's sender authentication (it reads the variable); a wrong
    value is one sentence and exit status 2."""
    if value is None or not value.strip():
        return
    try:
        dns.parse_server(value)
    except ValueError as exc:
        err.print(f"error: --dns-server: {exc}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(2) from None
    os.environ[dns.ENV_DNS_SERVER] = value.strip()


# Notifications are delivered by whichever process runs the outboxes: ``serve`` on one machine,
# the workers when scaled out; a web-only process takes the options and ignores them.
NotifySmtpOpt = Annotated[
    str | None,
    typer.Option(
        envvar="INVOICE_INBOX_NOTIFY_SMTP", help="Send notification e-mails via HOST:PORT."
    ),
]
NotifyFromOpt = Annotated[
    str, typer.Option(envvar="INVOICE_INBOX_NOTIFY_FROM", help="Their From address.")
]
NotifyWebhookOpt = Annotated[
    str | None,
    typer.Option(envvar="INVOICE_INBOX_NOTIFY_WEBHOOK", help="POST notifications here."),
]


def _channels(smtp: str | None, sender: str, webhook: str | None) -> Channels:
    relay = _host_port("--notify-smtp", smtp) if smtp else None
    return Channels(
        smtp_host=relay[0] if relay else None,
        smtp_port=relay[1] if relay else 25,
        sender=sender,
        webhook_url=webhook,
    )


def _host_port(option: str, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise UserError(f"{option} must look like HOST:PORT, not {value!r}")
    return host or "127.0.0.1", int(port)


def _start_logging(fmt: LogFormat) -> None:
    logs.configure(fmt.value)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _run_until_signal(
    service: Service, a: App | None = None, setup_token: str | None = None
) -> None:
    signal.signal(signal.SIGTERM, lambda *_: service.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: service.stop_event.set())
    service.start()
    if service.http is not None and a is not None:
        url = service.http.url
        with a.db.session() as s:
            first_run = users.count(s) == 0
        out.print(f"Web admin on {url}/ (API: {url}/docs, metrics: {url}/metrics)")
        if first_run:
            # the one-time token: only who sees this console creates the administrator
            out.print(
                f"First run: open {url}/setup?token={setup_token} to create the administrator.",
                highlight=False,
                soft_wrap=True,
            )
    try:
        service.wait()
    finally:
        service.stop()
    out.print("stopped.")


def _web(
    host: str,
    port: int,
    behind_proxy: bool,
    hosts: HostPolicy,
    setup_token: str,
    scheduled: bool = True,
) -> Callable[[App, Scheduler], WebServer]:
    def make(a: App, scheduler: Scheduler) -> WebServer:
        # the web app and its server only where one is served: every other command (a fetch
        # of a few mails, say) would otherwise import FastAPI and the pages first (0.5 s)
        from invoice_inbox.web.app import create_app
        from invoice_inbox.web.server import WebServer

        asgi = create_app(
            a,
            fetch_now=lambda name: scheduler.wake(name, "manual"),
            health=scheduler.health if scheduled else None,  # no scheduler: nothing to watch
            hosts=hosts,
            setup_token=setup_token,
        )
        return WebServer(asgi, host, port, proxy_headers=behind_proxy)

    return make


@app.command("serve")
def serve(
    host: Annotated[
        str, typer.Option(help="Address of the web admin, the API, /metrics and /healthz.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Their port (0: any free port).")] = 8025,
    behind_proxy: Annotated[
        bool,
        typer.Option(
            help="Trust X-Forwarded-Proto/For from a TLS proxy on 127.0.0.1 (Secure cookies)."
        ),
    ] = False,
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar="INVOICE_INBOX_PUBLIC_URL",
            help="The address users open (e.g. https://ap.example.com behind a proxy); its host "
            "name is answered besides --host.",
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            envvar="INVOICE_INBOX_ALLOWED_HOSTS",
            help="Another host name to answer for (repeatable; *.example.com for sub-domains). "
            "Requests for any other name get 400.",
        ),
    ] = None,
    web: Annotated[bool, typer.Option(help="Serve the web admin and the API.")] = True,
    scheduler: Annotated[
        bool,
        typer.Option(
            help="Fetch sources, watch instant ones and deliver notifications and webhooks here; "
            "--no-scheduler leaves that to `invoice-inbox worker` processes (web and SMTP only)."
        ),
    ] = True,
    smtp_port: Annotated[
        int | None, typer.Option(help="Receive mail for the import addresses on this port.")
    ] = None,
    smtp_host: Annotated[str, typer.Option(help="Address the SMTP receiver listens on.")] = (
        "0.0.0.0"
    ),
    smtp_domain: Annotated[
        str | None, typer.Option(help="The mail domain of the import addresses.")
    ] = None,
    smtp_max_size: Annotated[int, typer.Option(help="Largest mail accepted, in MB.")] = 25,
    smtp_cert: Annotated[
        Path | None, typer.Option(help="TLS certificate (PEM) to offer STARTTLS.")
    ] = None,
    smtp_key: Annotated[Path | None, typer.Option(help="Its private key (PEM).")] = None,
    smtp_authserv_id: Annotated[
        str | None,
        typer.Option(
            envvar="INVOICE_INBOX_SMTP_AUTHSERV_ID",
            help="The name in the Authentication-Results header the receiver adds "
            "(default: --smtp-domain).",
        ),
    ] = None,
    smtp_rate: Annotated[
        int,
        typer.Option(
            envvar="INVOICE_INBOX_SMTP_RATE",
            help="Mails one client (an IPv4 address, an IPv6 /64) may send a minute to this "
            "receiver; more are refused until the minute is over.",
        ),
    ] = 60,
    smtp_daily_cap: Annotated[
        int,
        typer.Option(
            envvar="INVOICE_INBOX_SMTP_DAILY_CAP",
            help="Mails a company's import address takes a day (UTC), unless the company has "
            "its own cap; 0: no cap.",
        ),
    ] = 5000,
    notify_smtp: NotifySmtpOpt = None,
    notify_from: NotifyFromOpt = "invoice-inbox@localhost",
    notify_webhook: NotifyWebhookOpt = None,
    workers: WorkersOpt = 2,
    allow_private_webhooks: PrivateHooksOpt = False,
    dns_server: DnsOpt = None,
    log_format: LogOpt = LogFormat.text,
    once: Annotated[
        bool, typer.Option(help="Fetch every scheduled source once now, then exit.")
    ] = False,
) -> None:
    """Run the service: schedules, instant pickup, the import addresses, notifications."""
    use_dns_server(dns_server)
    if (smtp_port is None) != (smtp_domain is None):
        raise UserError("the import addresses need both --smtp-port and --smtp-domain")
    if (smtp_cert is None) != (smtp_key is None):
        raise UserError("STARTTLS needs both --smtp-cert and --smtp-key")
    if workers < 1:
        raise UserError("--workers must be at least 1")
    channels = _channels(notify_smtp, notify_from, notify_webhook)
    try:
        hosts = HostPolicy(host, [public_url] if public_url else [], allowed_host or [])
    except InvalidHost as exc:
        raise UserError(str(exc)) from None
    setup_token = secrets.token_urlsafe(32)
    if not 0 <= port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, not {port}")
    smtp: InboundSettings | None = None
    if smtp_port is not None and smtp_domain:
        try:
            smtp = InboundSettings(
                host=smtp_host,
                port=smtp_port,
                domain=smtp_domain.lower(),
                max_size=smtp_max_size * 1024 * 1024,
                certfile=str(smtp_cert) if smtp_cert else None,
                keyfile=str(smtp_key) if smtp_key else None,
                authserv_id=smtp_authserv_id or None,
                mails_per_client=smtp_rate,
                daily_cap=smtp_daily_cap,
            )
        except ValueError as exc:
            raise UserError(str(exc)) from None
    config = ServiceConfig(
        workers=workers,
        scheduler=scheduler,
        http=_web(host, port, behind_proxy, hosts, setup_token, scheduler) if web else None,
        smtp=smtp,
        channels=channels,
    )
    egress.allow_private(allow_private_webhooks)
    _start_logging(log_format)
    a = state.open(create=True)  # the first run starts a new data directory
    with a.db.session() as s:
        count = sum(1 for src in sources_store.all_sources(s, active_only=True))
    out.print(f"invoice-inbox: data in {a.data_dir}; {count} active sources.")
    if once:
        Scheduler(a).tick(every_scheduled=True)
        return
    if count == 0 and config.smtp is None:
        out.print("Add a source with: invoice-inbox source add --help")
    try:
        _run_until_signal(Service(a, config), a, setup_token)
    except OSError as exc:  # a port in use, an unreadable certificate
        raise UserError(f"cannot start the service: {exc}") from None


@app.command("worker")
def worker(
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            "--workers",
            help="How many sources this worker fetches at the same time (--workers: the old name).",
        ),
    ] = 2,
    notify_smtp: NotifySmtpOpt = None,
    notify_from: NotifyFromOpt = "invoice-inbox@localhost",
    notify_webhook: NotifyWebhookOpt = None,
    allow_private_webhooks: PrivateHooksOpt = False,
    dns_server: DnsOpt = None,
    log_format: LogOpt = LogFormat.text,
) -> None:
    """Run a worker (no SMTP, no HTTP): it claims due sources, keeps its share of the IDLE
    watches, delivers webhooks and notifications and re-checks; start any number of them, on
    any number of machines, against the same database."""
    if concurrency < 1:
        raise UserError("--concurrency must be at least 1")
    use_dns_server(dns_server)
    egress.allow_private(allow_private_webhooks)
    _start_logging(log_format)
    a = state.open()
    config = ServiceConfig(
        workers=concurrency, channels=_channels(notify_smtp, notify_from, notify_webhook)
    )
    _run_until_signal(Service(a, config))
