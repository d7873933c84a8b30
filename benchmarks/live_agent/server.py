"""Serve convo's app or the bare relay under uvicorn or granian, for benchmarks.

    python benchmarks/live_agent/server.py --app convo|relay --server uvicorn|granian \
        [--loop asyncio|uvloop] [--http h11|httptools] [--gc server|python] [--port 0] \
        [--workers N]

convo's app is built exactly as `convo serve` builds it (settings from the `CONVO_*`
environment, which must set `CONVO_JWT_SECRET` and `CONVO_AGENT_SERVICE_URL`; the schema is
upgraded first); uvicorn runs it with the same options as `convo serve` (uvloop by default,
`websockets-sansio`, permessage-deflate offered; `--gc` sets the garbage collector's
thresholds for both apps, as CONVO_GC_TUNING does for `convo serve`; convo's malloc arenas
are capped as CONVO_MALLOC_ARENAS says, as `convo serve` caps them). The relay reads its
upstream from `BENCH_UPSTREAM`. Prints `serving on http://127.0.0.1:PORT` once accepting
connections. `--workers N` (convo on uvicorn) serves it as `convo serve --workers N` does,
from the same environment (which must then set `CONVO_REDIS_URL` and a PostgreSQL database);
it announces itself once the port answers ready and the workers have had time to start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))


def convo_app() -> Any:
    from entrypoints.container import build_container
    from entrypoints.http.app import create_app
    from entrypoints.logs import configure_logging
    from entrypoints.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    assert settings.jwt_secret is not None, "set CONVO_JWT_SECRET"
    return create_app(build_container(settings), settings.jwt_secret.reveal())


async def prepare_convo() -> None:
    from entrypoints.database import upgrade
    from entrypoints.settings import load_settings

    await upgrade(load_settings().database_url)


def relay_app() -> Any:
    from bare_relay import create

    return create()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def announce_when(started: Callable[[], bool], port: int) -> None:
    while not started():  # noqa: ASYNC110 (a flag of the server's, not ours to signal)
        await asyncio.sleep(0.01)
    print(f"serving on http://127.0.0.1:{port}", flush=True)


async def run_uvicorn(app: Any, port: int, http: str) -> None:
    import uvicorn

    from entrypoints.serve import bind

    listener = bind("127.0.0.1", port)
    config = uvicorn.Config(
        app, log_config=None, ws="websockets-sansio", http=http, lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    announcing = asyncio.ensure_future(
        announce_when(lambda: server.started, listener.getsockname()[1])
    )
    await server.serve(sockets=[listener])
    announcing.cancel()


async def run_granian(app: Any, port: int) -> None:
    from granian.constants import Interfaces
    from granian.server.embed import Server

    port = port or free_port()
    server = Server(
        app, address="127.0.0.1", port=port, interface=Interfaces.ASGI, log_enabled=False
    )
    serving = asyncio.ensure_future(server.serve())

    def accepting() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    await announce_when(accepting, port)
    await serving


async def main_async(args: argparse.Namespace) -> None:
    if args.app == "convo":
        await prepare_convo()
        app = convo_app()
    else:
        app = relay_app()
    if args.server == "uvicorn":
        await run_uvicorn(app, args.port, args.http)
    else:
        await run_granian(app, args.port)


def serve_convo_workers(workers: int, port: int, loop: str) -> None:
    from entrypoints.serve import bind
    from entrypoints.settings import load_settings
    from entrypoints.workers import serve_workers

    run(prepare_convo(), loop)
    listener = bind("127.0.0.1", port)
    port = listener.getsockname()[1]
    threading.Thread(target=announce_when_ready, args=(port,), daemon=True).start()
    serve_workers(load_settings(), listener, workers)


def announce_when_ready(port: int, settle_s: float = 3.0) -> None:
    """Once the port answers ready (one worker has started), give the others `settle_s` to
    finish theirs: they start together, in about a second each here."""
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    time.sleep(settle_s)
    print(f"serving on http://127.0.0.1:{port}", flush=True)


def run(main: Coroutine[Any, Any, None], loop: str) -> None:
    if loop == "uvloop":
        import uvloop

        uvloop.run(main)
    else:
        asyncio.run(main)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", choices=["convo", "relay"], required=True)
    parser.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    parser.add_argument("--http", choices=["h11", "httptools"], default="httptools")
    parser.add_argument("--gc", choices=["server", "python"], default="server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="convo on uvicorn only")
    args = parser.parse_args()
    from entrypoints.collector import tune_collector

    if args.workers > 1:
        if args.app != "convo" or args.server != "uvicorn":
            parser.error("--workers: convo on uvicorn only")
        os.environ["CONVO_GC_TUNING"] = args.gc
        os.environ["CONVO_EVENT_LOOP"] = args.loop
        serve_convo_workers(args.workers, args.port, args.loop)
        return
    tune_collector(args.gc)
    if args.app == "convo":
        from entrypoints.allocator import cap_malloc_arenas
        from entrypoints.settings import load_settings

        cap_malloc_arenas(load_settings().malloc_arenas)
    with contextlib.suppress(KeyboardInterrupt):
        run(main_async(args), args.loop)


if __name__ == "__main__":
    main()
