"""Password handling: argon2 only, and login timing that does not reveal accounts."""

from __future__ import annotations

import pytest

from starface_connector.service import security


@pytest.fixture
def strong_verifications(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records the hash of every verification (a spy on the real argon2 verifier)."""
    seen: list[str] = []
    real = security._matches

    def spy(stored: str, password: str) -> bool:
        seen.append(stored)
        return real(stored, password)

    monkeypatch.setattr(security, "_matches", spy)
    return seen


STRONG_PROFILE = "$argon2id$v=19$m=19456,t=2,p=1$"


@pytest.mark.parametrize("kind", ["unknown", "light", "strong"])
@pytest.mark.parametrize("password", ["1001", "wrong"])
def test_every_answer_costs_one_strong_verification(
    strong_verifications: list[str], kind: str, password: str
) -> None:
    stored = {
        "unknown": None,
        "light": security.hash_initial_password("1001"),
        "strong": security.hash_password("1001"),
    }[kind]
    strong_verifications.clear()
    result = security.verify_password(stored, password)
    assert result is (kind != "unknown" and password == "1001")
    assert sum(h.startswith(STRONG_PROFILE) for h in strong_verifications) == 1


def test_hashes_are_argon2id_and_never_contain_the_password() -> None:
    for hashed in (security.hash_password("s3cret-pass"), security.hash_initial_password("1001")):
        assert hashed.startswith("$argon2id$")
        assert "s3cret-pass" not in hashed and "1001" not in hashed.split("$")[-1]
    assert security.needs_rehash(security.hash_initial_password("1001"))
    assert not security.needs_rehash(security.hash_password("s3cret-pass"))


def test_tokens_are_random_and_kept_only_as_sha256() -> None:
    tokens = {security.new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 40 for t in tokens)
    token = tokens.pop()
    assert security.token_hash(token) != token and len(security.token_hash(token)) == 64
