"""Subject, stream, bucket and channel names: the single place the bus is named."""

from __future__ import annotations

import re
from typing import Final

# Request/reply: the gateway calls `http.<service>`, services call each other on
# `rpc.<service>` (same envelope, same handlers); replicas share queue group
# `<service>`. Two prefixes let NATS permissions keep `http.*` to the gateway.
SERVICES = ("auth", "persona", "media")
HTTP_PREFIX = "http"
RPC_PREFIX = "rpc"


def http_subject(service: str) -> str:
    return f"{HTTP_PREFIX}.{service}"


def rpc_subject(service: str) -> str:
    return f"{RPC_PREFIX}.{service}"


# JetStream streams.
STREAM_JOBS = "JOBS"
JOBS_CHAT = "jobs.chat"
JOBS_PERSONA_DRAFT = "jobs.persona.draft"
JOBS_MEDIA_PROCESS = "jobs.media.process"
JOBS_MEDIA_IMAGE = "jobs.media.image"
JOBS_MEDIA_VIDEO = "jobs.media.video"
JOB_SUBJECTS = (JOBS_CHAT, JOBS_PERSONA_DRAFT, JOBS_MEDIA_PROCESS, JOBS_MEDIA_IMAGE, JOBS_MEDIA_VIDEO)

STREAM_DEAD = "DEAD"
JOBS_DEAD = "jobs.dead"

STREAM_RESULTS = "RESULTS"
RESULTS_CHAT: Final = "results.chat"
RESULTS_DRAFT = "results.draft"
RESULTS_MEDIA = "results.media"
# A room's reply is a chat job whose result goes here, to the rooms' consumer only.
RESULTS_ROOM: Final = "results.room"
RESULT_SUBJECTS = (RESULTS_CHAT, RESULTS_DRAFT, RESULTS_MEDIA, RESULTS_ROOM)

STREAM_EVENTS = "EVENTS"
EVENTS_ALL = "events.>"


def stream_of(subject: str) -> str:
    """The stream that stores `subject` (a job, dead-letter or result subject)."""
    if subject == JOBS_DEAD:
        return STREAM_DEAD
    for stream, members in ((STREAM_JOBS, JOB_SUBJECTS), (STREAM_RESULTS, RESULT_SUBJECTS)):
        if subject in members:
            return stream
    raise ValueError(f"no stream stores {subject!r}")


# EVENTS republishes every stored event on `live.…` with its stream sequence in the
# `Nats-Sequence` header; gateways subscribe there so each SSE frame carries its id.
LIVE_PREFIX = "live"

# Core request/reply control subjects.
CONTROL_CANCEL_PREFIX = "control.cancel"
# Core, fire and forget: a conversation's next prompt, for a worker to warm the model's cache.
CONTROL_WARMUP_CHAT = "control.warmup.chat"


def cancel_subject(job_id: str) -> str:
    return f"{CONTROL_CANCEL_PREFIX}.{job_id}"


# Key-value and object-store buckets.
KV_REVOKED = "revoked"
# `cancel.<job_id>` markers: a cancel that arrives before a worker took the job.
KV_CANCELS = "cancels"
# Single-use SSE tickets, keyed by the SHA-256 of the ticket; any gateway replica redeems them.
KV_SSE_TICKETS = "sse_tickets"
OBJ_BODIES = "bodies"
# Rooms (docs/rooms.md). `<room id>.<user id>`: a member removed from a room; every gateway drops
# the room's channel from that user's open streams when the entry appears.
KV_CHANNEL_DROPS = "channel_drops"
# How long a removal is kept: longer than any stream opened before it can stay unchecked.
CHANNEL_DROPS_TTL = 3600.0
# `<room id>.<user id>.<gateway id>`: who has a room open, per gateway (refreshed, then expires).
KV_PRESENCE = "presence"
PRESENCE_TTL = 60.0

# Channels: `user:<id>` is `events.user.<id>`, `channel:<id>` is `events.channel.<id>`,
# `public:<name>` is `events.public.<name>` (anyone may follow it, signed in or not).
CHANNEL_KINDS = ("user", "channel", "public")
# The community's public channel: what every visitor of Explore may see change live.
COMMUNITY_CHANNEL = "public:community"
PUBLIC_CHANNELS = (COMMUNITY_CHANNEL,)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class BadChannel(ValueError):
    pass


def parse_channel(channel: str) -> tuple[str, str]:
    kind, sep, ident = channel.partition(":")
    if not sep or kind not in CHANNEL_KINDS or not _TOKEN.match(ident):
        raise BadChannel(channel)
    return kind, ident


def channel_subject(channel: str) -> str:
    kind, ident = parse_channel(channel)
    return f"events.{kind}.{ident}"


def live_subject(channel: str) -> str:
    return f"{LIVE_PREFIX}.{channel_subject(channel)}"


# Ephemeral events (presence, typing): core NATS only, never stored in EVENTS nor replayed.
EPHEMERAL_PREFIX = "ephemeral"


def ephemeral_subject(channel: str) -> str:
    return f"{EPHEMERAL_PREFIX}.{channel_subject(channel)}"


def channel_drop_key(channel_id: str, user_id: str) -> str:
    return f"{channel_id}.{user_id}"


def subject_channel(subject: str) -> str:
    """`events.user.x` or `live.events.user.x` → `user:x`."""
    parts = subject.split(".")
    if parts[0] == LIVE_PREFIX:
        parts = parts[1:]
    return f"{parts[1]}:{parts[2]}"


def is_public(channel: str) -> bool:
    return channel in PUBLIC_CHANNELS


def user_channel(user_id: str) -> str:
    return f"user:{user_id}"


def conversation_channel(conversation_id: str) -> str:
    return f"channel:{conversation_id}"


# A room's events share the conversations' channel namespace (the owning service answers access).
room_channel = conversation_channel
