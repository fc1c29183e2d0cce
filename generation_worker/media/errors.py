"""Why a media job ends: a file or a request that can never succeed is `MediaRejected` (the
user sees the reason in `media_failed`); anything else is retried."""

from __future__ import annotations


class MediaRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
