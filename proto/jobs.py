"""What every job and result message carries, whatever its kind."""

from __future__ import annotations

import msgspec

from proto.events import Event
from proto.subjects import JOBS_DEAD


class JobBase(msgspec.Struct, kw_only=True):
    """Fields every job message has; kind-specific jobs subclass it."""

    job_id: str
    user_id: str
    request_id: str = ""


job_base_decoder = msgspec.json.Decoder(JobBase)


class JobFailed(Event, tag="job_failed"):
    """A job gave up after its last delivery; sent to the requester's `user:<id>`."""

    job_id: str
    kind: str
    reason: str


class DeadLetter(msgspec.Struct, kw_only=True):
    """Published on `jobs.dead` for a job that failed its last delivery."""

    job_id: str
    kind: str
    subject: str
    reason: str
    attempts: int
    payload: bytes


# What travels on each subject this module owns (listed in docs/channels.md).
MESSAGES: dict[str, type[msgspec.Struct]] = {JOBS_DEAD: DeadLetter}
