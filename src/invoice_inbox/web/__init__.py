"""The web admin (server-rendered Jinja2 pages with htmx) and the REST API (``/api/v1``), one
FastAPI application served by ``invoice-inbox serve`` beside the scheduler."""
