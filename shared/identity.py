"""People: Firebase Auth ID tokens verified, and users found by email, through firebase-admin.

In production firebase-admin checks each token's signature against Google's published keys for
the project (``GOOGLE_CLOUD_PROJECT``). With ``FIREBASE_AUTH_EMULATOR_HOST`` set (the local stack,
the tests) it talks to the Auth emulator instead and accepts its unsigned tokens; the code path
is otherwise the same, so revocation and disabled accounts are tested for real.
"""

from __future__ import annotations

import threading
import time

import firebase_admin
from firebase_admin import auth

from shared.domain.accounts import Person
from shared.domain.errors import TransientFailure, Unauthenticated


class FirebaseIdentity:
    """One firebase-admin app per instance, named so it never collides with another user of the
    SDK in the same process."""

    def __init__(self, project: str) -> None:
        self._project = project
        self._app: firebase_admin.App | None = None
        self._lock = threading.Lock()

    @property
    def app(self) -> firebase_admin.App:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    name = f"podium-{self._project}-{id(self)}"
                    self._app = firebase_admin.initialize_app(
                        options={"projectId": self._project}, name=name
                    )
        return self._app

    def verify(self, id_token: str) -> Person:
        """The person an ID token was issued to. Bad, expired, revoked tokens and disabled
        accounts all raise Unauthenticated (``check_revoked`` asks Auth about the account, so a
        signed-out or disabled person is refused at once, not when the token expires)."""
        try:
            claims = auth.verify_id_token(id_token, app=self.app, check_revoked=True)
        except auth.RevokedIdTokenError:
            raise Unauthenticated("The ID token has been revoked; sign in again") from None
        except auth.UserDisabledError:
            raise Unauthenticated("This account is disabled") from None
        except auth.ExpiredIdTokenError:
            raise Unauthenticated("The ID token has expired; refresh it and retry") from None
        except (auth.InvalidIdTokenError, ValueError):
            raise Unauthenticated("Invalid ID token") from None
        except firebase_admin.exceptions.FirebaseError as exc:
            # Auth itself failed to answer (the revocation check): worth a retry.
            raise TransientFailure(f"Could not verify the ID token: {exc}") from None
        # firebase-admin checks expiry with the signature, which it skips for the emulator's
        # unsigned tokens; checked here too, so the emulator refuses expired tokens as
        # production does.
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= time.time():
            raise Unauthenticated("The ID token has expired; refresh it and retry")
        return Person(uid=str(claims["uid"]), email=claims.get("email"))

    def find_by_email(self, email: str) -> Person | None:
        try:
            user = auth.get_user_by_email(email, app=self.app)
        except auth.UserNotFoundError:
            return None
        except ValueError:
            return None  # not an email firebase-admin accepts: nobody has it
        except firebase_admin.exceptions.FirebaseError as exc:
            raise TransientFailure(f"Could not look the person up: {exc}") from None
        return Person(uid=user.uid, email=user.email)
