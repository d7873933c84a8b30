"""Running one prebuilt statement for a number of rows."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable


async def execute_rows(
    connection: AsyncConnection, statement: Executable, rows: Sequence[dict[str, Any]]
) -> None:
    """`statement` for each row: one row as a plain execution, several as one executemany,
    none as nothing."""
    if rows:
        await connection.execute(statement, rows[0] if len(rows) == 1 else list(rows))
