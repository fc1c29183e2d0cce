"""AI persona drafts end to end: idea → worker → events and a stored draft → a saved persona."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from proto.personas import PersonaDraft
from tests.persona_svc.conftest import Site
from tests.persona_svc.helpers import (
    user_events,
)
from tests.support.poll import eventually


async def test_a_generated_draft_validates_and_saves(site: Site) -> None:
    http = site.http
    user, other = await site.user("writer"), await site.user("other")
    r = await http.post("/personas/generate", json={"idea": "x"}, headers=user.headers)
    assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "idea"
    idea = "a retired lighthouse keeper who collects storm stories"
    r = await http.post("/personas/generate", json={"idea": idea, "tags": ["Cozy"]}, headers=user.headers)
    assert r.status_code == 202, r.text
    job_id = r.json()["data"]["job_id"]
    draft: dict[str, Any] = {}

    async def done() -> bool:
        r = await http.get(f"/personas/drafts/{job_id}", headers=user.headers)
        assert r.status_code == 200, r.text
        view = r.json()["data"]
        assert view["status"] in ("pending", "done"), view
        draft.update(view)
        return bool(view["status"] == "done")

    await eventually(done)
    assert draft["idea"] == idea and draft["completed_at"]
    body = draft["draft"]
    # Valid against the persona schema: every field, two alternate greetings, the asked-for tag.
    msgspec.convert(body, PersonaDraft)
    assert len(body["alternate_greetings"]) == 2 and body["tags"][0] == "cozy"
    assert "lighthouse keeper" in body["description"] and "<START>" in body["example_dialogues"]
    assert (await http.get(f"/personas/drafts/{job_id}", headers=other.headers)).status_code == 404

    # The events carried the same draft, written piece by piece; the ready event follows the
    # stored draft (tests/persona_svc/test_state_before_event.py).
    events: list[dict[str, Any]] = []

    async def announced() -> bool:
        events[:] = await user_events(site, user.id)
        return any(e["event"] == "persona_draft_ready" for e in events)

    await eventually(announced)
    progress = "".join(e["delta"] for e in events if e["event"] == "persona_draft_progress")
    ready = [e for e in events if e["event"] == "persona_draft_ready"]
    assert json.loads(progress) == body and [e["draft"] for e in ready] == [body]

    # Nothing is saved until the (possibly edited) draft is posted.
    assert (await http.get("/personas", params={"creator_id": user.id}, headers=user.headers)).json()[
        "data"
    ] == []
    edited = {**body, "name": "Maren Holloway", "visibility": "public"}
    r = await http.post("/personas", json=edited, headers=user.headers)
    assert r.status_code == 201, r.text
    saved = r.json()["data"]
    assert saved["name"] == "Maren Holloway" and saved["greeting"] == body["greeting"]
    assert saved["alternate_greetings"] == body["alternate_greetings"]
