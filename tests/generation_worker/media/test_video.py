"""Video variants with the ffmpeg from the wheel: probing, sizes, faststart, metadata, progress
from ffmpeg's own `-progress` counts, cancellation."""

from __future__ import annotations

import asyncio
import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from generation_worker.media import ffmpeg, video
from generation_worker.media.errors import MediaRejected
from tests.support.media import make_mp4, top_level_boxes

PROBE_TEXT = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'phone.mov':
  Duration: 00:01:02.50, start: 0.000000, bitrate: 15234 kb/s
  Stream #0:0[0x1](und): Video: hevc (Main) (hvc1 / 0x31637668), yuv420p(tv, bt709), 1920x1080, 15000 kb/s, 29.97 fps, 30 tbr, 600 tbn (default)
    Side data:
      displaymatrix: rotation of -90.00 degrees
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 128 kb/s (default)
At least one output file must be specified"""  # noqa: E501


def test_parse_probe_reads_what_ffmpeg_prints() -> None:
    info = ffmpeg.parse_probe(PROBE_TEXT)
    assert info.duration == 62.5 and info.fps == 29.97 and info.bitrate_kbps == 15234
    assert (info.width, info.height, info.rotation) == (1080, 1920, 270)
    assert (info.video_codec, info.audio_codec, info.pixel_format) == ("hevc", "aac", "yuv420p")
    with pytest.raises(MediaRejected):
        ffmpeg.parse_probe("Input #0, wav, from 'x.wav':\n  Stream #0:0: Audio: pcm_s16le, 44100 Hz")


@pytest.mark.parametrize(
    ("size", "target"),
    [((1920, 1080), (1280, 720)), ((1080, 1920), (720, 1280)), ((1280, 960), (960, 720)),
     ((640, 480), (640, 480)), ((3840, 1600), (1280, 532)), ((721, 405), (720, 404))],
)  # fmt: skip
def test_target_size_is_at_most_720p_and_even(size: tuple[int, int], target: tuple[int, int]) -> None:
    assert video.target_size(*size) == target


async def make_variants(
    source: Path, tmp_path: Path, content_type: str = "video/mp4"
) -> tuple[video.VideoOutputs, list[tuple[str, float]]]:
    seen: list[tuple[str, float]] = []

    async def report(stage: str, fraction: float) -> None:
        seen.append((stage, fraction))

    work = tmp_path / "work"
    work.mkdir()
    out = await video.make_video_variants(
        source, content_type, work, report, max_pixels=80_000_000, timeout=300
    )
    return out, seen


async def test_transcode_to_faststart_h264_aac(tmp_path: Path) -> None:
    source = make_mp4(tmp_path / "in.mp4", seconds=3.0, size="1280x960")
    out, seen = await make_variants(source, tmp_path)
    data = out.optimized.read_bytes()
    boxes = top_level_boxes(data)
    assert boxes.index("moov") < boxes.index("mdat")
    info = await ffmpeg.probe(out.optimized)
    assert (info.width, info.height, info.video_codec, info.audio_codec) == (960, 720, "h264", "aac")
    assert info.duration is not None and 2.9 <= info.duration <= 3.1
    for path in (out.original, out.optimized):
        assert b"+37.7749" not in path.read_bytes()
    with Image.open(io.BytesIO(out.poster.data)) as poster:
        assert poster.size == (960, 720)
    assert (out.thumbnail.width, out.thumbnail.height) == (256, 192)
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    encoding = [f for stage, f in seen if stage == "optimized"]
    assert len(encoding) >= 2, "ffmpeg's frame counts should have moved the progress"


async def test_small_h264_is_remuxed_not_reencoded(tmp_path: Path) -> None:
    source = make_mp4(tmp_path / "in.mp4", seconds=1.0, size="640x480")
    out, _ = await make_variants(source, tmp_path)
    info = await ffmpeg.probe(source)
    assert video.can_copy(info, video.target_size(info.width, info.height))
    # Same encoded stream: remuxed with faststart, no generation loss.
    assert abs(out.optimized.stat().st_size - source.stat().st_size) < 4096
    boxes = top_level_boxes(out.optimized.read_bytes())
    assert boxes.index("moov") < boxes.index("mdat")


async def test_webm_and_rotated_sources(tmp_path: Path) -> None:
    webm = tmp_path / "in.webm"
    subprocess.run(
        [ffmpeg.ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=10",
         "-t", "1", "-c:v", "libvpx-vp9", str(webm)],
        check=True,
    )  # fmt: skip
    out, _ = await make_variants(webm, tmp_path, "video/webm")
    assert out.original.suffix == ".webm"
    assert (await ffmpeg.probe(out.optimized)).video_codec == "h264"
    rotated = tmp_path / "rotated.mp4"
    plain = make_mp4(tmp_path / "plain.mp4", seconds=1.0, size="640x360", audio=False)
    subprocess.run(
        [ffmpeg.ffmpeg_exe(), "-loglevel", "error", "-display_rotation", "90", "-i", str(plain),
         "-c", "copy", str(rotated)],
        check=True,
    )  # fmt: skip
    (tmp_path / "r").mkdir()
    out, _ = await make_variants(rotated, tmp_path / "r")
    assert out.optimized_size == (360, 640)
    with Image.open(io.BytesIO(out.poster.data)) as poster:
        assert poster.size == (360, 640)


async def test_not_a_video_is_rejected(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.mp4"
    bogus.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 5000)
    with pytest.raises(MediaRejected):
        await make_variants(bogus, tmp_path)


async def test_cancel_kills_ffmpeg(tmp_path: Path) -> None:
    cancelled = asyncio.Event()
    seen: list[dict[str, str]] = []

    async def progress(block: dict[str, str]) -> None:
        seen.append(block)
        cancelled.set()

    args = ["-f", "lavfi", "-i", "testsrc=size=1280x720:rate=25", "-t", "600",
            "-c:v", "libx264", "-preset", "slow", str(tmp_path / "never.mp4")]  # fmt: skip
    with pytest.raises(ffmpeg.Cancelled):
        await asyncio.wait_for(ffmpeg.run(args, on_progress=progress, cancelled=cancelled), 60)
    assert seen and "frame" in seen[0]
