"""API keys: created once and shown once, stored only as salted scrypt hashes.

A key reads ``hcx_<key_id>_<secret>``; the id finds the row, the secret is checked
against its hash in constant time. Keys live in the journal file's ``api_keys`` table.
Verification is deliberately slow (scrypt), so the gateway runs it off the event loop.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any, Literal

import attrs

from hcx.durability.journal import Journal

Role = Literal["trader", "quoter", "admin"]
ROLES: tuple[Role, ...] = ("trader", "quoter", "admin")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


@attrs.frozen
class KeyInfo:
    key_id: str
    wallet: str
    role: Role
    created_ms: int
    revoked_ms: int | None


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)


class KeyStore:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def create(self, wallet: str, role: Role) -> str:
        """A new key for ``wallet``; the returned string is the only copy of the secret."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(24)
        salt = secrets.token_bytes(16)
        with self.journal.connection:
            self.journal.connection.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (key_id, wallet, role, salt, _hash(secret, salt), time.time_ns() // 1_000_000),
            )
        return f"hcx_{key_id}_{secret}"

    def revoke(self, key_id: str) -> bool:
        with self.journal.connection:
            self.journal.connection.execute(
                "UPDATE api_keys SET revoked_ms = ? WHERE key_id = ? AND revoked_ms IS NULL",
                (time.time_ns() // 1_000_000, key_id),
            )
            changed: int = self.journal.connection.changes()
        return changed > 0

    def list(self, wallet: str | None = None) -> list[KeyInfo]:
        sql = "SELECT key_id, wallet, role, created_ms, revoked_ms FROM api_keys"
        params: tuple[Any, ...] = ()
        if wallet is not None:
            sql += " WHERE wallet = ?"
            params = (wallet,)
        rows: Any = self.journal.connection.execute(sql + " ORDER BY created_ms", params)
        return [KeyInfo(*row) for row in rows]

    def verify(self, wallet: str, key: str) -> Role | None:
        """The key's role if ``key`` is a live key of ``wallet``, else None."""
        prefix, _, rest = key.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != "hcx" or not key_id or not secret:
            return None
        rows: Any = list(
            self.journal.connection.execute(
                "SELECT wallet, role, salt, hash, revoked_ms FROM api_keys WHERE key_id = ?",
                (key_id,),
            )
        )
        if not rows:
            _hash(secret, b"\x00" * 16)  # spend the same time either way
            return None
        owner, role, salt, stored, revoked = rows[0]
        matches = hmac.compare_digest(_hash(secret, bytes(salt)), bytes(stored))
        if not matches or owner != wallet or revoked is not None:
            return None
        return role  # type: ignore[no-any-return]
