import asyncio

from entrypoints.scheduler import Job, Scheduler
from tests.fakes.metrics import RecordingMetrics


def job(name: str, results: list[int]) -> Job:
    async def run() -> int:
        result = results.pop(0)
        if result < 0:
            raise RuntimeError("job broke")
        return result

    return Job(name, run)


async def test_each_run_reports_and_counts_what_every_job_handled() -> None:
    metrics = RecordingMetrics()
    scheduler = Scheduler([job("a", [3]), job("b", [0])], interval_s=60, metrics=metrics)
    assert await scheduler.run_once() == {"a": 3, "b": 0}
    assert metrics.total("convo_scheduler_handled", job="a") == 3
    assert metrics.total("convo_scheduler_runs", job="b", outcome="ok") == 1


async def test_a_failing_job_does_not_stop_the_others() -> None:
    metrics = RecordingMetrics()
    scheduler = Scheduler([job("broken", [-1]), job("fine", [2])], interval_s=60, metrics=metrics)
    assert await scheduler.run_once() == {"fine": 2}
    assert metrics.total("convo_scheduler_runs", job="broken", outcome="error") == 1


async def test_running_forever_repeats_until_cancelled() -> None:
    runs: list[int] = []

    async def count() -> int:
        runs.append(1)
        return 0

    scheduler = Scheduler([Job("tick", count)], interval_s=0.01, metrics=RecordingMetrics())
    task = asyncio.ensure_future(scheduler.run_forever())
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(runs) >= 3
