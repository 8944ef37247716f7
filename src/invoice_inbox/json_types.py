"""The type of JSON-shaped data: what ``json.loads`` and httpx give, a JSON column holds, or a
``--json`` answer and an API body are made of.

Its values are ``Any`` because a JSON object's values are of any JSON type, and the libraries
that read it (json, httpx, SQLAlchemy's JSON type) give them so. Below every layer: it imports
nothing of ours.
"""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]  # a JSON object: its values of any JSON type

# A source's settings by name, as the API's JSON body, the web form or the CLI's options give
# them: str, int, bool, list, date or None values, which runtime.configure checks one by one.
SourceSettings = dict[str, Any]
