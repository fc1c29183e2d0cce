from __future__ import annotations

from typing import Literal

import msgspec


class Identity(msgspec.Struct, frozen=True, omit_defaults=True):
    """Who made a request, as verified by the gateway and carried in the bridge envelope."""

    user_id: str
    session_id: str | None = None
    via: Literal["token", "api_key", "internal"] = "token"
    is_admin: bool = False
    # The API key used (via="api_key"), so revoking it ends the event streams it opened.
    api_key_id: str | None = None
