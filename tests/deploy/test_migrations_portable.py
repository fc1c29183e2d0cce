"""Every migration is SQL that CockroachDB runs too (the README's claim, checked)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = sorted(ROOT.glob("*/migrations/*.sql"))

# (pattern, why CockroachDB refuses or breaks it)
FORBIDDEN = [
    (r"\bpg_(try_)?advisory(_xact)?_lock", "advisory locks do not exist on CockroachDB"),
    (r"\bLISTEN\b|\bNOTIFY\b|\bpg_notify\b", "LISTEN/NOTIFY is not supported"),
    (r"\btsvector\b|\btsquery\b|\bto_tsvector\b|\bplainto_tsquery\b", "full-text search types differ"),
    (r"\b(SMALL|BIG)?SERIAL\b", "SERIAL is not a PostgreSQL sequence on CockroachDB; use UUID keys"),
    (r"\bCREATE\s+EXTENSION\b", "extensions are not available"),
    (r"\bLOCK\s+TABLE\b", "explicit table locks are not supported"),
    (r"\bCREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|TRIGGER|RULE)\b", "triggers and PL/pgSQL functions differ"),
    (r"\bINHERITS\b", "table inheritance is not supported"),
    (r"\bEXCLUDE\s+USING\b", "exclusion constraints are not supported"),
]


def problems(sql: str) -> list[str]:
    text = re.sub(r"--[^\n]*", "", sql)
    return [why for pattern, why in FORBIDDEN if re.search(pattern, text, re.IGNORECASE)]


@pytest.mark.parametrize("path", MIGRATIONS, ids=[str(p.relative_to(ROOT)) for p in MIGRATIONS])
def test_migration_is_portable(path: Path) -> None:
    assert problems(path.read_text()) == [], path


def test_the_check_catches_what_cockroachdb_refuses() -> None:
    assert problems("CREATE TABLE t (id SERIAL PRIMARY KEY);")
    assert problems("SELECT pg_advisory_lock(1);")
    assert problems("ALTER TABLE p ADD COLUMN doc tsvector;")
    assert problems("NOTIFY jobs;")
    assert (
        problems("CREATE TABLE t (id UUID PRIMARY KEY DEFAULT gen_random_uuid()); -- SERIAL in a comment")
        == []
    )
