"""Secrets a user gives us (model tokens), encrypted at rest.

Fernet (AES-128-CBC with an HMAC) from ``cryptography`` rather than anything hand-rolled;
MultiFernet lets a deployment rotate keys: the first key encrypts, every key decrypts.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            # Never echo the ciphertext: logs are read by more people than the database.
            raise ValueError("stored secret cannot be decrypted with the configured keys") from exc
