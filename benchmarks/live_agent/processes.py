"""Child processes of the benchmark, and what /proc says about their CPU time and memory."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import signal
import sys
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1
PAGE = os.sysconf("SC_PAGE_SIZE")


def _die_with_parent() -> None:
    """In the child before it runs: end it (SIGTERM) when the benchmark's process ends, even
    if that one is killed before it can stop its children."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """A script started with this interpreter; `url` is what it printed as `serving on URL`."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, url: str) -> None:
        self.name = name
        self.process = process
        self.url = url

    @classmethod
    async def start(
        cls, name: str, args: list[str], env: dict[str, str], log: Path, profile: Path | None = None
    ) -> Child:
        """`profile`: record the child with py-spy (collapsed stacks written there on stop)."""
        command = [sys.executable, *args]
        if profile is not None:
            spy = Path(sys.executable).with_name("py-spy")
            command = [str(spy), "record", "-r", "250", "-f", "raw", "-o", str(profile), "--"]
            command += [sys.executable, *args]
        process = await asyncio.create_subprocess_exec(
            *command,
            preexec_fn=_die_with_parent,
            env={**os.environ, **env},
            stdout=asyncio.subprocess.PIPE,
            stderr=log.open("ab"),
        )
        assert process.stdout is not None
        async with asyncio.timeout(60):
            while line := (await process.stdout.readline()).decode():
                if match := re.search(r"serving on (http://\S+)", line):
                    return cls(name, process, match.group(1))
        process.kill()
        raise SystemExit(f"{name} did not start; see {log}")

    def pids(self) -> list[int]:
        """This process and its descendants."""
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                with contextlib.suppress(OSError):
                    todo.extend(int(child) for child in task.read_text().split())
        return found

    def cpu_s(self) -> float:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
        return total / TICKS

    def main_thread_cpu_s(self) -> float:
        """CPU time of the process's main thread alone (its event loop, for our servers)."""
        with contextlib.suppress(OSError):
            pid = self.process.pid
            stat = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(stat[11]) + int(stat[12])) / TICKS
        return 0.0

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        return total

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system
