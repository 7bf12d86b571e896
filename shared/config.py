"""Settings: the only reader of the environment.

Everything a deployment or a developer can change is a field here, read once, validated at
start-up (the full-stack-fastapi-template habit), so a missing secret fails the instance at boot
rather than in the middle of a request.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_KEYGEN = (
    "generate one with: python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'"
)


class ConfigError(RuntimeError):
    """A deployment's settings cannot work; raised at start-up (``shared/boot.py``)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # --- where we run -----------------------------------------------------------------------
    google_cloud_project: str = "demo-podium"
    # Set only locally and in tests; the Firestore client reads it too.
    firestore_emulator_host: str | None = None
    # The Firebase Auth emulator (make dev, tests); firebase-admin reads it too and then accepts
    # unsigned ID tokens, so it is refused outside the Firestore emulator (check()).
    firebase_auth_emulator_host: str | None = None
    port: int = 8080

    # --- secrets ----------------------------------------------------------------------------
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation). Required outside
    # the emulator; on the emulator a fixed development key is derived from the project id.
    podium_secret_keys: SecretStr | None = None

    # --- outbound ---------------------------------------------------------------------------
    hf_endpoint: str = "https://huggingface.co"
    # The deployment's Hugging Face token, sent when reading dataset files (private datasets).
    hf_token: SecretStr | None = None
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    openrouter_api_key: SecretStr | None = None
    # How long OpenRouter's model catalog (auto-select, the model_version trigger) is reused.
    openrouter_catalog_ttl_seconds: float = Field(default=300.0, ge=0, le=86_400)
    # Loopback and private-range model endpoints are refused unless this is set (local stack,
    # tests). Link-local and metadata addresses are refused always.
    podium_allow_private_endpoints: bool = False

    # --- API behaviour ----------------------------------------------------------------------
    # A token's last-used time is written at most this often (one write per request would hit
    # Firestore's ~1 write/s per document on a busy token).
    token_touch_interval_seconds: int = Field(default=60, ge=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    # --- task fan-out -----------------------------------------------------------------------
    # "local": the in-process dispatcher (make dev, tests); "cloud": Cloud Tasks.
    tasks_mode: Literal["local", "cloud"] = "local"
    tasks_location: str = "europe-west1"
    # Base URL of the workers function, which Cloud Tasks calls (with an OIDC token of
    # TASKS_INVOKER_SA); locally, the gateway's own address.
    workers_url: str = "http://127.0.0.1:8080"
    tasks_invoker_sa: str | None = None
    # How many times a queue delivers a task (terraform/tasks.tf and the local dispatcher use
    # the same number): on the last attempt a transient failure is recorded, not retried.
    task_max_attempts: int = Field(default=5, ge=1, le=100)
    # How long Cloud Tasks waits for a worker (at most 30 min, Cloud Tasks' limit); the workers
    # function's timeout in terraform/functions.tf is at least this.
    task_dispatch_deadline_seconds: float = Field(default=1800.0, ge=15, le=1800)

    # How often the local stack (make dev) ticks the scheduler; Cloud Scheduler does in production.
    scheduler_tick_seconds: float = Field(default=60.0, gt=0)

    # --- runs -------------------------------------------------------------------------------
    dataset_max_rows: int = Field(default=50_000, ge=1)
    dataset_max_bytes: int = Field(default=100 * 1024 * 1024, ge=1024)
    # A longer dataset line is refused as a bad row: a chunk document must hold it (1 MiB).
    dataset_max_row_bytes: int = Field(default=256 * 1024, ge=1024, le=512 * 1024)
    # Samples per dataset chunk document and per inference task (fewer when rows are large:
    # chunks are cut by bytes too). At most 200, so every answer keeps a useful share of its
    # cell document (shared/domain/runs.py, output_budget).
    # 125: a task's fixed writes (claim, cell, progress, cache) are then 0.032 per sample, a
    # run served from the cache writes one cell per 125 samples, and an answer keeps about
    # 5.7 KiB of its cell.
    run_chunk_size: int = Field(default=125, ge=1, le=200)
    # Model calls in flight per provider (host) in one instance, shared by all of its tasks
    # (shared/providers/budget.py). Cloud Run serves several tasks at once per instance; each
    # streams its chunk through this budget.
    provider_concurrency: int = Field(default=64, ge=1, le=512)
    provider_timeout_seconds: float = Field(default=60.0, gt=0)
    # Retries inside one call (short blips); longer outages go back to the queue as a 503.
    provider_max_retries: int = Field(default=2, ge=0, le=10)
    provider_max_retry_wait_seconds: float = Field(default=10.0, ge=0)
    # Answers stored per sample are cut to this many characters (a chunk is one document).
    output_max_chars: int = Field(default=8000, ge=100)
    response_cache_ttl_hours: float = Field(default=168.0, ge=0)
    # A task working on a cell holds a lease on it, renewed while it works: a duplicate
    # delivery waits instead of calling the models again, and a crashed holder's cell is free
    # again this long after its last renewal.
    run_lease_seconds: float = Field(default=60.0, ge=1, le=1800)
    # A run with no cell written (leases renew as cells are worked on) for this long has lost
    # its tasks: the scheduler tick resumes it, and fails it after run_max_resumes resumptions
    # without progress.
    run_stall_seconds: float = Field(default=300.0, ge=2)
    run_max_resumes: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _stall_outlasts_leases(self) -> Settings:
        # A resumed task must find the crashed holder's lease expired, or it would wait on it.
        if self.run_stall_seconds < 2 * self.run_lease_seconds:
            raise ValueError(
                f"RUN_STALL_SECONDS ({self.run_stall_seconds:g}) must be at least twice "
                f"RUN_LEASE_SECONDS ({self.run_lease_seconds:g})"
            )
        return self

    @field_validator("hf_endpoint", "openrouter_base_url", "workers_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"must be an http(s) URL, not {v!r}")
        return v.strip().rstrip("/")

    @field_validator("google_cloud_project")
    @classmethod
    def _project(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v.strip()

    @property
    def on_emulator(self) -> bool:
        return bool(self.firestore_emulator_host)

    def secret_keys(self) -> list[bytes]:
        """The Fernet keys, each checked (never echoed: a key in a log is a leaked key)."""
        if self.podium_secret_keys is not None:
            raw = [k.strip() for k in self.podium_secret_keys.get_secret_value().split(",")]
            keys = [k.encode() for k in raw if k]
            if not keys:
                raise ConfigError(f"PODIUM_SECRET_KEYS is set but holds no key ({_KEYGEN})")
            for i, key in enumerate(keys, 1):
                try:
                    Fernet(key)
                except ValueError:  # binascii.Error is one too
                    raise ConfigError(
                        f"PODIUM_SECRET_KEYS: key {i} of {len(keys)} is not a Fernet key "
                        f"(32 url-safe base64-encoded bytes; {_KEYGEN})"
                    ) from None
            return keys
        if self.on_emulator:
            digest = hashlib.sha256(f"podium-dev-key:{self.google_cloud_project}".encode()).digest()
            return [base64.urlsafe_b64encode(digest)]
        raise ConfigError(
            f"PODIUM_SECRET_KEYS is required outside the Firestore emulator ({_KEYGEN})"
        )

    def check(self) -> None:
        """What a function needs to serve, checked without the network: raises ConfigError.
        Field types and ranges were checked when the settings were read."""
        self.secret_keys()
        if self.firebase_auth_emulator_host and not self.on_emulator:
            raise ConfigError(
                "FIREBASE_AUTH_EMULATOR_HOST makes sign-in accept unsigned ID tokens: it is "
                "allowed only with the Firestore emulator (FIRESTORE_EMULATOR_HOST), never in "
                "production"
            )
        if self.tasks_mode == "cloud" and not self.tasks_invoker_sa:
            raise ConfigError("TASKS_MODE=cloud needs TASKS_INVOKER_SA (the tasks' OIDC identity)")
        if self.tasks_mode == "local" and not self.on_emulator:
            # The local dispatcher lives in the local stack's process, always on the emulator.
            raise ConfigError(
                "TASKS_MODE=local works only in the local stack (make dev, on the Firestore "
                "emulator); set TASKS_MODE=cloud with TASKS_INVOKER_SA"
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
