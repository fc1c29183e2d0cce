"""Card imports that cannot work say why in words a person understands, and change nothing."""

from __future__ import annotations

import io

from PIL import Image

from tests.persona_svc.conftest import Site


async def test_a_png_without_a_card_says_so(site: Site) -> None:
    user = await site.user()
    picture = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 120, 40)).save(picture, format="PNG")
    headers = {**user.headers, "content-type": "image/png"}
    r = await site.http.post("/personas/import", content=picture.getvalue(), headers=headers)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["message"].startswith("This image has no character card inside."), error
    assert error["details"]["field"] == "card"
    # The same picture sent as a multipart upload, as the web UI sends it.
    files = {"file": ("holiday.png", picture.getvalue(), "image/png")}
    r = await site.http.post("/personas/import", files=files, headers=user.headers)
    assert r.status_code == 422 and r.json()["error"]["message"].startswith(
        "This image has no character card"
    )
    # Nothing was created.
    mine = await site.http.get("/personas", params={"creator_id": user.id}, headers=user.headers)
    assert mine.status_code == 200 and mine.json()["data"] == []
