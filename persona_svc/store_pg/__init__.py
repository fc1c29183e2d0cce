"""The PostgreSQL/CockroachDB store (asyncpg): all of persona_svc's SQL, one module per aggregate.

`PgStore` is composed of `personas` (rows, listings, drafts), `community` (likes, follows,
reports, content settings) and `conversations` (messages, generations, user personas); `base`
has what they share. Rows come back as Structs through the pool's codecs (`chassis/db.py`).
Transactions that CockroachDB (serializable) may abort are retried.
"""

from __future__ import annotations

from persona_svc.store_pg.community import Community
from persona_svc.store_pg.conversations import Conversations
from persona_svc.store_pg.personas import Personas


class PgStore(Personas, Community, Conversations):
    pass


__all__ = ["PgStore"]
