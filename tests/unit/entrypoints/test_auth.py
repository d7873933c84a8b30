import time
import warnings

import jwt
import pytest

from entrypoints.auth import InvalidToken, issue_token, read_token

SECRET = "k" * 40


def _hs512_token() -> str:
    """Signed with the right secret but an algorithm outside the fixed list (PyJWT warns that
    the secret is short for HS512, which is beside the point here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode({"sub": "a", "org_id": "o", "exp": time.time() + 60}, SECRET, "HS512")


def test_a_token_names_its_user_org_and_permissions() -> None:
    principal = read_token(SECRET, issue_token(SECRET, "alice", "acme", ["admin"]))
    assert (principal.owner.user_id, principal.owner.org_id) == ("alice", "acme")
    assert principal.may("admin")


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        issue_token("x" * 40, "alice", "acme"),
        issue_token(SECRET, "alice", "acme", ttl_s=-10),
        jwt.encode({"sub": "alice", "org_id": "acme"}, SECRET, algorithm="HS256"),
        jwt.encode({"sub": "alice", "exp": time.time() + 60}, SECRET, algorithm="HS256"),
        jwt.encode(
            {"sub": "alice", "org_id": "acme", "exp": time.time() + 60, "permissions": "admin"},
            SECRET,
            algorithm="HS256",
        ),
        _hs512_token(),
    ],
    ids=["garbage", "wrong-secret", "expired", "no-exp", "no-org", "bad-permissions", "hs512"],
)
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidToken):
        read_token(SECRET, token)


def test_an_unsigned_token_is_refused() -> None:
    header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"
    body = jwt.utils.base64url_encode(b'{"sub":"a","org_id":"o","exp":9999999999}').decode()
    with pytest.raises(InvalidToken):
        read_token(SECRET, f"{header}.{body}.")


def test_a_token_read_before_is_refused_once_it_has_expired() -> None:
    token = issue_token(SECRET, "alice", "acme", ttl_s=60)
    assert read_token(SECRET, token).owner.user_id == "alice"
    with pytest.raises(InvalidToken, match="expired"):
        read_token(SECRET, token, now=time.time() + 61)
    assert read_token(SECRET, token).owner.user_id == "alice"


def test_a_token_is_checked_against_the_secret_it_is_read_with() -> None:
    token = issue_token(SECRET, "alice", "acme")
    read_token(SECRET, token)
    with pytest.raises(InvalidToken):
        read_token("y" * 40, token)
