"""Progress: one percent for the whole job that never goes back, scoped by step."""

from __future__ import annotations

from generation_worker.media.progress import Progress, ProgressSink


async def test_scoped_steps_map_into_one_monotonic_percent() -> None:
    sent: list[tuple[str, int]] = []

    async def emit(stage: str, percent: int) -> None:
        sent.append((stage, percent))

    progress = Progress(ProgressSink(emit))
    making, storing = progress.scoped(0.0, 0.6), progress.scoped(0.6, 1.0)
    await making.report("decode", 0.0)
    await making.report("decode", 0.5)
    await making.report("decode", 0.5)  # no change: nothing sent
    await making.scoped(0.5, 1.0).report("encode", 0.5)  # 0.6 × 0.75 = 45 %
    await making.report("encode", 0.2)  # going back is ignored: nothing sent
    await making.report("check", 0.2)  # a new stage is sent, at the percent reached
    await storing.report("store", 0.5)
    await storing.report("store", 1.5)  # clamped
    assert sent == [
        ("decode", 0),
        ("decode", 30),
        ("encode", 45),
        ("check", 45),
        ("store", 80),
        ("store", 100),
    ]
