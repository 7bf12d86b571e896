"""Settings: the only reader of the environment.

Everything a deployment or a developer can change is a field here, read once, validated at
start-up (the full-stack-fastapi-template habit), so a missing secret fails the instance at boot
rather than in the middle of a request.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # --- where we run -----------------------------------------------------------------------
    google_cloud_project: str = "demo-podium"
    # Set only locally and in tests; the Firestore client reads it too.
    firestore_emulator_host: str | None = None
    port: int = 8080

    # --- secrets ----------------------------------------------------------------------------
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation). Required outside
    # the emulator; on the emulator a fixed development key is derived from the project id.
    podium_secret_keys: SecretStr | None = None

    # --- outbound ---------------------------------------------------------------------------
    hf_endpoint: str = "https://huggingface.co"
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    openrouter_api_key: SecretStr | None = None
    # Loopback and private-range model endpoints are refused unless this is set (local stack,
    # tests). Link-local and metadata addresses are refused always.
    podium_allow_private_endpoints: bool = False

    # --- API behaviour ----------------------------------------------------------------------
    # A token's last-used time is written at most this often (one write per request would hit
    # Firestore's ~1 write/s per document on a busy token).
    token_touch_interval_seconds: int = Field(default=60, ge=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    @field_validator("hf_endpoint", "openrouter_base_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

    @property
    def on_emulator(self) -> bool:
        return bool(self.firestore_emulator_host)

    def secret_keys(self) -> list[bytes]:
        if self.podium_secret_keys is not None:
            keys = [k.strip() for k in self.podium_secret_keys.get_secret_value().split(",")]
            return [k.encode() for k in keys if k]
        if self.on_emulator:
            digest = hashlib.sha256(f"podium-dev-key:{self.google_cloud_project}".encode()).digest()
            return [base64.urlsafe_b64encode(digest)]
        raise RuntimeError(
            "PODIUM_SECRET_KEYS is required outside the Firestore emulator "
            "(generate one with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
