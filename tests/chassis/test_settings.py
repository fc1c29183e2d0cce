from __future__ import annotations

from pathlib import Path

import pytest

from chassis.settings import Settings


def test_settings_come_from_upper_case_environment_variables() -> None:
    s = Settings.from_env(
        {"NATS_URL": "nats://bus:4222", "PORT": "9000", "REQUEST_TIMEOUT": "2.5", "LOG_JSON": "false"}
    )
    assert (s.nats_url, s.port, s.request_timeout, s.log_json) == ("nats://bus:4222", 9000, 2.5, False)


def test_settings_are_frozen() -> None:
    s = Settings.from_env({})
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


def test_invalid_setting_stops_start_with_its_name() -> None:
    with pytest.raises(SystemExit, match="port"):
        Settings.from_env({"PORT": "eighty"})


def test_redacted_masks_secrets() -> None:
    s = Settings.from_env({"DATABASE_URL": "postgresql://app:s3cret@db:5432/persona"})
    shown = s.redacted()
    assert shown["database_url"] == "postgresql://app:***@db:5432/persona"
    assert "s3cret" not in repr(shown)


def test_redacted_masks_nats_credentials_in_every_url() -> None:
    s = Settings.from_env({"NATS_URL": "nats://service:pw1@n0:4222,nats://service:pw1@n1:4222"})
    assert s.redacted()["nats_url"] == "nats://service:***@n0:4222,nats://service:***@n1:4222"


def test_every_setting_is_documented_in_operations() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    missing = [name.upper() for name in Settings.__struct_fields__ if f"`{name.upper()}`" not in doc]
    assert missing == [], f"document these in docs/operations.md: {missing}"
