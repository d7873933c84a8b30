"""Bearer JWTs: HS256 with a configured secret, `exp` required, claims sub/org_id/permissions."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable

import jwt

from domain.conversations import Owner, Principal

ALGORITHMS = ["HS256"]
DEFAULT_TTL_S = 12 * 3600
VERIFIED_TOKENS = 4096


class InvalidToken(Exception):
    """The token is missing, malformed, expired or not signed with our secret."""


def issue_token(
    secret: str,
    user_id: str,
    org_id: str,
    permissions: Iterable[str] = (),
    ttl_s: int = DEFAULT_TTL_S,
    now: float | None = None,
) -> str:
    issued = int(time.time() if now is None else now)
    claims = {
        "sub": user_id,
        "org_id": org_id,
        "permissions": sorted(permissions),
        "iat": issued,
        "exp": issued + ttl_s,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def read_token(secret: str, token: str, now: float | None = None) -> Principal:
    """The caller a token names; InvalidToken with a reason safe to show otherwise."""
    principal, expires = _verified(secret, token)
    if (time.time() if now is None else now) >= expires:
        raise InvalidToken("token expired")
    return principal


@functools.lru_cache(maxsize=VERIFIED_TOKENS)
def _verified(secret: str, token: str) -> tuple[Principal, float]:
    """The caller a token names and when it expires, verified once per token: a client sends
    the same token with every request and socket, and checking its signature and claims is a
    few per cent of an agent turn's CPU. Only valid tokens are kept (an exception is never
    cached); `read_token` checks the expiry on every use."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=ALGORITHMS, options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError:
        raise InvalidToken("token expired") from None
    except jwt.InvalidTokenError:
        raise InvalidToken("token invalid") from None
    user_id, org_id = claims.get("sub"), claims.get("org_id")
    permissions = claims.get("permissions", [])
    if not _text(user_id) or not _text(org_id):
        raise InvalidToken("token lacks sub or org_id")
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise InvalidToken("token permissions must be a list of strings")
    owner = Owner(org_id=org_id, user_id=user_id)
    return Principal(owner, frozenset(permissions)), float(claims["exp"])


def _text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200
