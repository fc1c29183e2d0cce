"""A worker killed mid-reply loses nothing: the job is redelivered and exactly one result is published."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from chassis.children import stop
from chassis.jobs import publish_job
from proto.subjects import JOBS_CHAT, STREAM_JOBS
from tests.generation_worker.chat_support import chat_job, chat_results, chat_rig, until_result
from tests.support.mesh import Mesh, client
from tests.support.poll import eventually
from tests.support.sse import open_stream


@contextmanager
def worker_process(nats_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "JOB_ACK_WAIT": "2",
        "OFFLINE_TOKEN_DELAY": "0.1",
        "TEXT_PROVIDER": "offline",
        "LOG_LEVEL": "warning",
    }
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "generation_worker"], env=env, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        stop(proc, timeout=20)


async def test_sigkilled_worker_job_is_redelivered_and_finished_once(stack: Mesh, tmp_path: Path) -> None:
    async with chat_rig(stack, worker=False) as rig:
        js = rig.js
        job = chat_job(rig.user.id)
        async with client(rig.gateway.url) as http, open_stream(http, headers=rig.user.headers) as sse:
            with worker_process(stack.settings.nats_url, tmp_path / "worker1.log") as first:
                await publish_job(js, JOBS_CHAT, job.job_id, job)
                before_kill = [await sse.next(timeout=30) for _ in range(4)]  # started + 3 chunks
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
            assert [e.event for e in before_kill] == ["ai_chat_started"] + ["ai_chat_chunk"] * 3
            assert before_kill[0].data["attempt"] == 1
            with worker_process(stack.settings.nats_url, tmp_path / "worker2.log"):
                after, result = await until_result(sse, js, job.job_id)
                restarted = [e for e in after if e.event == "ai_chat_started"]
                assert restarted and restarted[-1].data["attempt"] >= 2

                async def job_acked() -> bool:
                    return (await js.stream_info(STREAM_JOBS)).state.messages == 0

                await eventually(job_acked, timeout=30)
        retry_chunks = [e for e in after[after.index(restarted[-1]) :] if e.event == "ai_chat_chunk"]
        assert "".join(c.data["delta"] for c in retry_chunks) == result.text
        results = await chat_results(js)
        assert len(results) == 1
        assert results[0].job_id == job.job_id and results[0].status == "done"
