"""`convo serve`: the API, live channels and background work, in one process or in workers."""

from __future__ import annotations

import contextlib
import logging
import secrets
import signal
import socket
import sys

import uvicorn

from entrypoints import event_loop, workers
from entrypoints.allocator import cap_malloc_arenas
from entrypoints.auth import issue_token
from entrypoints.collector import tune_collector
from entrypoints.container import build_container
from entrypoints.database import safe_url, upgrade
from entrypoints.http.app import API_PREFIX, create_app
from entrypoints.logs import configure_logging
from entrypoints.reference_agent_runner import start_embedded_agent
from entrypoints.settings import Settings

log = logging.getLogger("convo")


def bind(host: str, port: int) -> socket.socket:
    """Bind before serving so that `--port 0` can report the port it got."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def serve(settings: Settings, host: str, port: int, worker_count: int = 1) -> int:
    configure_logging(settings.log_level)
    if worker_count > 1 and (refusal := workers.refusal(settings)) is not None:
        print(f"convo: --workers {worker_count}: {refusal}", file=sys.stderr)
        return 2
    try:
        listener = bind(host, port)
    except OSError as error:
        print(f"convo: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr)
        return 1
    base_url = f"http://{_url_host(host)}:{listener.getsockname()[1]}"
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler
    # that was in place before it: make that a clean exit rather than death by signal.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    tune_collector(settings.gc_tuning)
    cap_malloc_arenas(settings.malloc_arenas)
    try:
        if worker_count > 1:
            _serve_workers(settings, listener, base_url, worker_count)
        else:
            with contextlib.suppress(KeyboardInterrupt):
                event_loop.run(_serve(settings, listener, base_url), settings.event_loop)
    except event_loop.EventLoopUnavailable as error:
        print(f"convo: {error}", file=sys.stderr)
        return 2
    return 0


def _serve_workers(
    settings: Settings, listener: socket.socket, base_url: str, worker_count: int
) -> None:
    event_loop.loop_factory(settings.event_loop)  # refuse here, not in every worker
    if settings.auto_migrate:
        event_loop.run(_migrate(settings), settings.event_loop)
    _banner(base_url, None, settings, embedded_agent=False, worker_count=worker_count)
    workers.serve_workers(settings, listener, worker_count)


def _exit_cleanly(_signal: int, _frame: object) -> None:
    raise SystemExit(0)


async def _migrate(settings: Settings) -> None:
    await upgrade(settings.database_url)
    log.info("database %s is at the newest revision", safe_url(settings.database_url))


async def _serve(settings: Settings, listener: socket.socket, base_url: str) -> None:
    if settings.auto_migrate:
        await _migrate(settings)
    embedded_agent = None
    if settings.agent_service_url is None:
        settings, embedded_agent = await start_embedded_agent(settings)
    try:
        await _serve_api(settings, listener, base_url, embedded_agent is not None)
    finally:
        if embedded_agent is not None:
            await embedded_agent.close()


async def _serve_api(
    settings: Settings, listener: socket.socket, base_url: str, embedded_agent: bool
) -> None:
    secret = settings.jwt_secret.reveal() if settings.jwt_secret else secrets.token_urlsafe(48)
    app = create_app(build_container(settings), secret)
    config = workers.uvicorn_config(settings, app)
    _banner(base_url, None if settings.jwt_secret else secret, settings, embedded_agent)
    await uvicorn.Server(config).serve(sockets=[listener])


def _banner(
    base_url: str,
    generated_secret: str | None,
    settings: Settings,
    embedded_agent: bool,
    worker_count: int = 1,
) -> None:
    processes = f", {worker_count} worker processes" if worker_count > 1 else ""
    lines = [
        f"convo is serving on {base_url} (API {base_url}{API_PREFIX}, docs {base_url}/schema"
        f"{processes})"
    ]
    kind = "the bundled reference service, in this process" if embedded_agent else "configured"
    lines.append(f"Agent Service: {settings.agent_service_url} ({kind})")
    if generated_secret is not None:
        token = issue_token(generated_secret, "dev", "dev")
        lines += [
            "CONVO_JWT_SECRET is not set: this run signs tokens with a secret made for it.",
            "A token for user 'dev' in org 'dev', valid for 12 hours or until this process stops:",
            f"  export TOKEN={token}",
            "Then start a conversation:",
            f'  curl -s -X POST {base_url}{API_PREFIX}/conversations -H "Authorization: Bearer '
            '$TOKEN" -H "Content-Type: application/json" -d \'{"title": "hello"}\'',
        ]
    print("\n".join(lines), flush=True)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
