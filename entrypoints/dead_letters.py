"""`convo dlq list`: the newest failed agent turns, one JSON object per line."""

from __future__ import annotations

import sys

import msgspec

from entrypoints.container import build_container
from entrypoints.container.lifecycle import close_resources, open_resources
from entrypoints.settings import Settings


async def list_dead_letters(settings: Settings, limit: int) -> int:
    if limit < 1:
        print("convo: --limit must be at least 1", file=sys.stderr)
        return 2
    container = build_container(settings)
    await open_resources(container)
    try:
        async with container.adapters.uow() as uow:
            letters = await uow.dead_letters.recent(limit)
    finally:
        await close_resources(container, 0)
    encode = msgspec.json.Encoder().encode
    for letter in letters:
        print(encode(letter).decode())
    return 0
