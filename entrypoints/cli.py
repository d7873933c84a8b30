"""The `convo` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from entrypoints.settings import Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convo", description="A chat backend that delegates to an Agent Service."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    serve = commands.add_parser("serve", help="run the HTTP API and live channels")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="processes serving the port (default 1); more than one needs Redis, PostgreSQL, "
        "an Agent Service URL and a JWT secret (docs/runbook.md)",
    )

    db = commands.add_parser("db", help="manage the database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="action")
    upgrade = db_commands.add_parser("upgrade", help="migrate to a revision (default: newest)")
    upgrade.add_argument("revision", nargs="?", default="head")
    downgrade = db_commands.add_parser("downgrade", help="migrate back to a revision")
    downgrade.add_argument("revision", nargs="?", default="-1")
    db_commands.add_parser("current", help="print the schema's revision")

    commands.add_parser("scheduler", help="run the periodic jobs until stopped")
    cleanup = commands.add_parser("cleanup", help="run the periodic jobs")
    cleanup.add_argument("--once", action="store_true", required=True, help="run them once")

    agent = commands.add_parser(
        "reference-agent",
        help="run the reference Agent Service (its API key from CONVO_AGENT_API_KEY)",
    )
    agent.add_argument("--host", default="127.0.0.1")
    agent.add_argument("--port", type=int, default=8900, help="0 picks a free port")

    dlq = commands.add_parser("dlq", help="failed agent turns kept for operators")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="action")
    listing = dlq_commands.add_parser("list", help="print the newest dead letters as JSON lines")
    listing.add_argument("--limit", type=int, default=50)

    token = commands.add_parser("token", help="print a development token")
    token.add_argument("--user", required=True)
    token.add_argument("--org", required=True)
    token.add_argument("--permission", action="append", default=[], dest="permissions")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="seconds (default 12 h)")
    return parser


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("expected a whole number of at least 1")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"convo: configuration error: {error}", file=sys.stderr)
        return 2
    if arguments.command == "serve":
        from entrypoints.serve import serve

        return serve(settings, arguments.host, arguments.port, arguments.workers)
    if arguments.command == "db":
        from entrypoints.database import run_db_command

        return asyncio.run(run_db_command(settings, arguments.db_command, arguments))
    if arguments.command == "reference-agent":
        from entrypoints.reference_agent_runner import run_reference_agent

        return run_reference_agent(settings, arguments.host, arguments.port)
    if arguments.command in ("scheduler", "cleanup"):
        from entrypoints.event_loop import EventLoopUnavailable, run
        from entrypoints.jobs import run_jobs

        try:
            return run(
                run_jobs(settings, forever=arguments.command == "scheduler"), settings.event_loop
            )
        except EventLoopUnavailable as error:
            print(f"convo: {error}", file=sys.stderr)
            return 2
    if arguments.command == "dlq":
        from entrypoints.dead_letters import list_dead_letters

        return asyncio.run(list_dead_letters(settings, arguments.limit))
    if arguments.command == "token":
        return _print_token(settings, arguments)
    return 2


def _print_token(settings: Settings, arguments: argparse.Namespace) -> int:
    from entrypoints.auth import issue_token

    if settings.jwt_secret is None:
        print(
            "convo: CONVO_JWT_SECRET is not set; tokens need the server's secret", file=sys.stderr
        )
        return 2
    print(
        issue_token(
            settings.jwt_secret.reveal(),
            arguments.user,
            arguments.org,
            arguments.permissions,
            ttl_s=arguments.ttl,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
