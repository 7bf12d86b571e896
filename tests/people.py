"""People for tests: accounts made in the Firebase Auth emulator through its REST API (the
Identity Toolkit endpoints a browser's Firebase SDK calls), and their ID tokens."""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct horse battery staple"


def _base() -> str:
    return f"http://{os.environ['FIREBASE_AUTH_EMULATOR_HOST']}/identitytoolkit.googleapis.com/v1"


@dataclass
class Person:
    uid: str
    email: str
    id_token: str
    base_url: str

    def client(self, workspace_id: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.id_token}"}
        if workspace_id:
            headers["X-Workspace-Id"] = workspace_id
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def sign_in_again(self) -> str:
        """A fresh ID token (signInWithPassword), as the SDK does when one expires."""
        resp = httpx.post(
            f"{_base()}/accounts:signInWithPassword?key=emulator",
            json={"email": self.email, "password": PASSWORD, "returnSecureToken": True},
        )
        resp.raise_for_status()
        self.id_token = resp.json()["idToken"]
        return self.id_token


def sign_up(base_url: str, name: str = "person") -> Person:
    """A new account with a unique email (accounts:signUp), signed in."""
    email = f"{name}-{secrets.token_hex(4)}@example.com"
    resp = httpx.post(
        f"{_base()}/accounts:signUp?key=emulator",
        json={"email": email, "password": PASSWORD, "returnSecureToken": True},
    )
    resp.raise_for_status()
    body = resp.json()
    return Person(body["localId"], email, body["idToken"], base_url)


def forged_token(claims: dict[str, Any]) -> str:
    """An unsigned JWT like the emulator's, with chosen claims (an expired one, say)."""

    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return part({"alg": "none", "typ": "JWT"}) + "." + part(claims) + "."


def expired_token_for(person: Person, project: str) -> str:
    """A token like the emulator's for ``person``, issued a second ago and already expired (an
    issue time before the account existed would read as revoked)."""
    now = int(time.time())
    return forged_token(
        {
            "iss": f"https://securetoken.google.com/{project}",
            "aud": project,
            "auth_time": now - 1,
            "user_id": person.uid,
            "sub": person.uid,
            "iat": now - 1,
            "exp": now - 1,
            "email": person.email,
            "firebase": {"identities": {}, "sign_in_provider": "password"},
        }
    )
