"""The public leaderboard's documents, outside any workspace::

    public_counters/{kind}                  the next integer id of categories, agents, results
    public_catalog/categories               every category's summary: the list is one read
    public_categories/{slug}                a category, with its pinned benchmark dataset
    public_boards/{slug}                    the materialized board: entries ranked, one per agent
    public_agents/{id}                      a profile, its owner workspace, badges, categories
    public_results/{id}                     a published result, copied from a private run
    public_result_keys/{hash}               (run, model) -> result: one publication each
    public_history/{slug}__{yyyy-mm-dd}     the board's ranks and scores at the end of a day
    public_idempotency/{hash}               an Idempotency-Key's agent create

Every change that moves a board (publish, verify, a profile's new name) rewrites the board,
the catalog's count and the day's history in the same transaction as the change itself, so a
reader never sees one without the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.cloud import firestore

from shared.domain.errors import Conflict, NotFound, TransientFailure
from shared.domain.public_board import with_pages
from shared.repositories.base import Doc, page, transact

# (a board, the agent as changed) -> the board to write, or None to leave it
BoardChange = Callable[[Doc, Doc], Doc | None]


@dataclass
class PublishState:
    """What the publish transaction read: the builder decides from it what to write."""

    result_id: int
    board: Doc
    agent: Doc
    history: Doc | None


@dataclass
class PublishWrites:
    result: Doc
    board: Doc
    agent_fields: Doc
    category_entry_count: int
    history: Doc


class PublicRepository:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    # --- references ---------------------------------------------------------------------
    def _counter(self, kind: str) -> Any:
        return self._db.collection("public_counters").document(kind)

    def _catalog(self) -> Any:
        return self._db.collection("public_catalog").document("categories")

    def _category(self, slug: str) -> Any:
        return self._db.collection("public_categories").document(slug)

    def _board(self, slug: str) -> Any:
        return self._db.collection("public_boards").document(slug)

    def _agent(self, agent_id: int) -> Any:
        return self._db.collection("public_agents").document(str(agent_id))

    def _result(self, result_id: int) -> Any:
        return self._db.collection("public_results").document(str(result_id))

    def _history(self, slug: str, day: str) -> Any:
        return self._db.collection("public_history").document(f"{slug}__{day}")

    def _next_id(self, tx: firestore.Transaction, kind: str) -> tuple[Any, int]:
        ref = self._counter(kind)
        snap = ref.get(transaction=tx)
        return ref, int((snap.to_dict() or {}).get("next", 1)) if snap.exists else 1

    # --- reads --------------------------------------------------------------------------
    def catalog(self) -> dict[str, Doc]:
        snap = self._catalog().get()
        items: dict[str, Doc] = (snap.to_dict() or {}).get("items", {}) if snap.exists else {}
        return items

    def category(self, slug: str) -> Doc | None:
        snap = self._category(slug).get()
        return snap.to_dict() if snap.exists else None

    def board_page(self, slug: str, *, verified: bool) -> Doc | None:
        """What a public read shows: one document read, masked to the page it needs."""
        fields = ["category", "total_entries", "last_updated"]
        fields += ["verified_top", "verified_total"] if verified else ["top"]
        snap = self._board(slug).get(field_paths=fields)
        return snap.to_dict() if snap.exists else None

    def boards(self, slugs: Sequence[str]) -> dict[str, Doc]:
        refs = [self._board(s) for s in dict.fromkeys(slugs)]
        return {s.id: s.to_dict() or {} for s in self._db.get_all(refs) if s.exists}

    def agent(self, agent_id: int) -> Doc | None:
        snap = self._agent(agent_id).get()
        return snap.to_dict() if snap.exists else None

    def result(self, result_id: int) -> Doc | None:
        snap = self._result(result_id).get()
        return snap.to_dict() if snap.exists else None

    def history(self, slug: str, days: Sequence[str]) -> list[Doc]:
        refs = [self._history(slug, d) for d in days]
        docs = [s.to_dict() or {} for s in self._db.get_all(refs) if s.exists]
        return sorted(docs, key=lambda d: str(d["date"]))

    def agents_page(
        self,
        *,
        name_prefix: str | None,
        organization: str | None,
        verified_only: bool,
        limit: int,
        offset: int,
    ) -> tuple[list[Doc], int]:
        """Agents in name order. Indexes: terraform/firestore.tf ``public_agents_*``."""
        query: Any = self._db.collection("public_agents")
        if organization is not None:
            query = query.where(
                filter=firestore.FieldFilter("organization_key", "==", organization)
            )
        if verified_only:
            query = query.where(filter=firestore.FieldFilter("is_verified", "==", True))
        if name_prefix:
            query = query.where(filter=firestore.FieldFilter("name_key", ">=", name_prefix))
            query = query.where(
                filter=firestore.FieldFilter("name_key", "<", name_prefix + "\U0010ffff")
            )
        total = int(query.count().get()[0][0].value)
        docs = query.order_by("name_key").order_by("id").offset(offset).limit(limit).stream()
        return [d.to_dict() or {} for d in docs], total

    def results_page(self, workspace_id: str, *, limit: int, offset: int) -> tuple[list[Doc], int]:
        query = self._db.collection("public_results").where(
            filter=firestore.FieldFilter("workspace_id", "==", workspace_id)
        )
        return page(query, order_by="published_at", limit=limit, offset=offset)

    def find_run(self, run_id: str) -> Doc | None:
        """A run by its id, in whatever workspace and leaderboard (run ids are unique); the
        caller checks the workspace. Index: the ``runs.id`` collection-group field override."""
        query = self._db.collection_group("runs").where(
            filter=firestore.FieldFilter("id", "==", run_id)
        )
        for snap in query.limit(1).stream():
            return snap.to_dict() or {}
        return None

    # --- categories ---------------------------------------------------------------------
    def create_category(self, record: Doc, summary: Callable[[Doc], Doc], board: Doc) -> Doc:
        """Create a category with the next id, its catalog entry and its empty board."""
        slug = record["slug"]

        def run(tx: firestore.Transaction) -> Doc:
            if self._category(slug).get(transaction=tx).exists:
                raise Conflict(f"Category '{slug}' already exists")
            counter, next_id = self._next_id(tx, "categories")
            created = {**record, "id": next_id}
            tx.set(counter, {"next": next_id + 1})
            tx.create(self._category(slug), created)
            tx.set(self._catalog(), {"items": {slug: summary(created)}}, merge=True)
            tx.set(self._board(slug), with_pages({**board, "category": _board_category(created)}))
            return created

        return transact(self._db, run)

    def update_category(
        self, slug: str, mutate: Callable[[Doc], Doc], summary: Callable[[Doc], Doc]
    ) -> Doc:
        def run(tx: firestore.Transaction) -> Doc:
            snap = self._category(slug).get(transaction=tx)
            if not snap.exists:
                raise NotFound(f"Category '{slug}' not found")
            updated = mutate(snap.to_dict() or {})
            tx.set(self._category(slug), updated)
            tx.set(self._catalog(), {"items": {slug: summary(updated)}}, merge=True)
            tx.update(self._board(slug), {"category": _board_category(updated)})
            return updated

        return transact(self._db, run)

    def count_categories(self) -> int:
        return len(self.catalog())

    # --- agents -------------------------------------------------------------------------
    def create_agent(self, record: Doc, idempotency: tuple[str, str] | None) -> tuple[Doc, bool]:
        """Create an agent with the next id. With ``idempotency`` (key document id, request
        fingerprint) a replay returns the first agent; returns (agent, created)."""

        def run(tx: firestore.Transaction) -> tuple[Doc, bool]:
            key_ref = None
            if idempotency is not None:
                key_ref = self._db.collection("public_idempotency").document(idempotency[0])
                key = key_ref.get(transaction=tx)
                if key.exists:
                    stored = key.to_dict() or {}
                    agent = self._agent(int(stored["agent_id"])).get(transaction=tx)
                    return {**(agent.to_dict() or {}), **stored}, False
            counter, next_id = self._next_id(tx, "agents")
            created = {**record, "id": next_id}
            tx.set(counter, {"next": next_id + 1})
            tx.create(self._agent(next_id), created)
            if key_ref is not None and idempotency is not None:
                tx.create(key_ref, {"agent_id": next_id, "request_fingerprint": idempotency[1]})
            return created, True

        return transact(self._db, run)

    def update_agent(self, agent_id: int, change: Callable[[Doc], Doc], board: BoardChange) -> Doc:
        """Change an agent and, in the same transaction, every board it is on (its name, avatar
        and organization are copied into its entries)."""

        def run(tx: firestore.Transaction) -> Doc:
            snap = self._agent(agent_id).get(transaction=tx)
            if not snap.exists:
                raise NotFound(f"Agent {agent_id} not found")
            current = snap.to_dict() or {}
            slugs = sorted(current.get("categories", {}))
            boards = {s: self._board(s).get(transaction=tx) for s in slugs}
            updated = change(current)
            tx.set(self._agent(agent_id), updated)
            for slug, b in boards.items():
                if b.exists:
                    new = board(b.to_dict() or {}, updated)
                    if new is not None:
                        tx.set(self._board(slug), with_pages(new))
            return updated

        return transact(self._db, run)

    # --- publishing ---------------------------------------------------------------------
    def publish(
        self,
        *,
        key: str,
        category_slug: str,
        agent_id: int,
        day: str,
        build: Callable[[PublishState], PublishWrites],
    ) -> Doc:
        """Store a result once per ``key`` (its run and model) and move the board, the agent,
        the catalog's count and the day's history with it."""
        key_ref = self._db.collection("public_result_keys").document(key)
        # A redelivery after the first committed is refused without a transaction, so it
        # neither waits for nor holds the locks every publish in the category needs.
        if key_ref.get().exists:
            raise Conflict("Result already published for this execution")

        def run(tx: firestore.Transaction) -> Doc:
            if key_ref.get(transaction=tx).exists:
                raise Conflict("Result already published for this execution")
            counter, next_id = self._next_id(tx, "results")
            board = self._board(category_slug).get(transaction=tx)
            agent = self._agent(agent_id).get(transaction=tx)
            history = self._history(category_slug, day).get(transaction=tx)
            if not board.exists:
                raise NotFound(f"Category '{category_slug}' not found")
            if not agent.exists:
                raise NotFound(f"Agent {agent_id} not found")
            writes = build(
                PublishState(
                    next_id,
                    board.to_dict() or {},
                    agent.to_dict() or {},
                    history.to_dict() if history.exists else None,
                )
            )
            tx.set(counter, {"next": next_id + 1})
            tx.create(key_ref, {"result_id": next_id})
            tx.create(self._result(next_id), writes.result)
            tx.set(self._board(category_slug), with_pages(writes.board))
            tx.update(self._agent(agent_id), writes.agent_fields)
            tx.set(self._history(category_slug, day), writes.history)
            tx.update(self._category(category_slug), {"entry_count": writes.category_entry_count})
            tx.set(
                self._catalog(),
                {"items": {category_slug: {"entry_count": writes.category_entry_count}}},
                merge=True,
            )
            return writes.result

        try:
            return transact(self._db, run)
        except TransientFailure:
            # Racing deliveries of one publish contend for the same documents; one that gives
            # up after another committed is a duplicate, and says so (409), rather than asking
            # to be retried (503) only to be refused then.
            if key_ref.get().exists:
                raise Conflict("Result already published for this execution") from None
            raise

    def verify_result(
        self,
        result_id: int,
        *,
        day: str,
        change: Callable[[Doc, Doc, Doc, Doc | None], tuple[Doc, Doc, Doc] | None],
    ) -> Doc:
        """Mark a result verified and move its board and the day's history, once: ``change``
        answers None when the result is verified already."""
        ref = self._result(result_id)

        def run(tx: firestore.Transaction) -> Doc:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                raise NotFound(f"Result {result_id} not found")
            result = snap.to_dict() or {}
            slug = result["category_slug"]
            board = self._board(slug).get(transaction=tx)
            agent = self._agent(int(result["agent_id"])).get(transaction=tx)
            history = self._history(slug, day).get(transaction=tx)
            out = change(
                result,
                board.to_dict() or {},
                agent.to_dict() or {},
                history.to_dict() if history.exists else None,
            )
            if out is None:
                return result
            new_result, new_board, new_history = out
            tx.set(ref, new_result)
            tx.set(self._board(slug), with_pages(new_board))
            tx.set(self._history(slug, day), new_history)
            return new_result

        return transact(self._db, run)


def _board_category(category: Doc) -> Doc:
    return {k: category.get(k) for k in ("id", "slug", "name", "description", "is_active")}
