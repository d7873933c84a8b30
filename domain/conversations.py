"""A conversation belongs to one user of one organisation and orders its messages in time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from domain.errors import InvalidField

MAX_TITLE_CHARS = 200
DEFAULT_TITLE = "New conversation"


@dataclass(frozen=True, slots=True)
class Owner:
    """Who a conversation belongs to: the pair is the unit of access control."""

    org_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: an owner plus the permissions its token grants."""

    owner: Owner
    permissions: frozenset[str] = frozenset()

    def may(self, permission: str) -> bool:
        return permission in self.permissions


def clean_title(title: str | None) -> str:
    """A title is trimmed, at most 200 characters, and defaults when blank."""
    if title is None or not title.strip():
        return DEFAULT_TITLE
    title = title.strip()
    if len(title) > MAX_TITLE_CHARS:
        raise InvalidField("title", f"must be at most {MAX_TITLE_CHARS} characters")
    return title


@dataclass(slots=True)
class Conversation:
    id: UUID
    owner: Owner
    title: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def start(cls, id: UUID, owner: Owner, title: str | None, now: datetime) -> Conversation:
        return cls(id=id, owner=owner, title=clean_title(title), created_at=now, updated_at=now)

    def is_owned_by(self, owner: Owner) -> bool:
        return self.owner == owner

    def touch(self, now: datetime) -> None:
        """Record activity; `updated_at` never moves backwards."""
        self.updated_at = max(self.updated_at, now)
