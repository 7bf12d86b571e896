"""Runs, their cells, pinned dataset versions, and the response cache.

Paths (under ``workspaces/{ws}/leaderboards/{lb}``)::

    runs/{run}                               status, plan, endpoints snapshot, results
    runs/{run}/cells/{lm}__{chunk}           outputs, scores, latency, tokens, cost of one chunk
    dataset_versions/{v}                     where the data came from, counts, bad rows
    dataset_versions/{v}/chunks/{i}          the samples, ``run_chunk_size`` per document
    workspaces/{ws}/response_cache/{key}     a chunk's answers from one model, with an expiry

Per-sample data lives in cells and chunks, never in the run document (Firestore sustains about
one write per second per document); the run's progress is counted in a few shard documents
(``runs/{run}/progress/{i}``), each scored cell once, in the commit that scores it.

Cells are written only under a lease (``claim_cell``, ``save_cell``): a task claims the cell in
the state it expects, works while renewing the lease, and saves only if the lease is still its
own. Duplicate and late deliveries therefore can neither call the models a second time nor
overwrite a cell that has moved on (a late ``infer`` must never touch a ``scored`` cell).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from contextlib import suppress
from datetime import datetime
from typing import Any, Literal, NamedTuple

from google.api_core.exceptions import AlreadyExists, FailedPrecondition
from google.cloud import firestore

from shared.domain.errors import Conflict, NotFound, TransientFailure
from shared.domain.runs import ACTIVE_STATUSES, CellState, inputs_digest
from shared.repositories.base import Doc, commit_groups, leaderboard_ref, page, transact
from shared.repositories.packing import pack, pack_cell, unpack, unpack_cell

RunCheck = Callable[[Doc, Doc | None], None]
# Read-then-conditional-write rounds before a cell that keeps changing is left to a retry.
CONDITIONAL_ATTEMPTS = 10


class Claim(NamedTuple):
    """What ``claim_cell`` found: ``claimed`` (the lease is ours), ``done`` (the cell is past
    the states asked for), or ``busy`` (another delivery holds a live lease for ``wait`` more
    seconds)."""

    outcome: Literal["claimed", "done", "busy"]
    cell: Doc | None
    wait: float = 0.0


# Scored cells are counted in this many counter documents per run, spread by cell id: each
# takes well under Firestore's sustained write rate even when every task of a run finishes
# at once, and progress is that many reads.
PROGRESS_SHARDS = 8


class RunRepository:
    def __init__(self, db: firestore.Client, *, chunk_cache_bytes: int = 64 * 1024 * 1024) -> None:
        self._db = db
        # A dataset version's chunks never change (the version id is a digest of the content
        # it was cut from), and every model's task reads the same chunk: 25 models read each
        # chunk 25 times. Kept here, most recently used first, up to about this many bytes.
        self._chunks = _ChunkCache(chunk_cache_bytes)

    # --- references ---------------------------------------------------------------------
    def _lb(self, ws: str, lb_id: str) -> Any:
        return leaderboard_ref(self._db, ws, lb_id)

    def _runs(self, ws: str, lb_id: str) -> Any:
        return self._lb(ws, lb_id).collection("runs")

    def _cells(self, ws: str, lb_id: str, run_id: str) -> Any:
        return self._runs(ws, lb_id).document(run_id).collection("cells")

    def _versions(self, ws: str, lb_id: str) -> Any:
        return self._lb(ws, lb_id).collection("dataset_versions")

    def _cache(self, ws: str) -> Any:
        return self._db.collection("workspaces").document(ws).collection("response_cache")

    # --- runs ---------------------------------------------------------------------------
    def start(
        self, ws: str, lb_id: str, run_id: str, record: Doc, check: RunCheck
    ) -> tuple[Doc, bool]:
        """Create the run and mark it the leaderboard's active run, in one transaction.

        ``check(leaderboard, active_run)`` may refuse (a run already active). Returns the run
        and whether it was created now (False: a replay of the same id).
        """
        lb_ref = self._lb(ws, lb_id)
        ref = self._runs(ws, lb_id).document(run_id)

        def run(tx: firestore.Transaction) -> tuple[Doc, bool]:
            lb = lb_ref.get(transaction=tx)
            if not lb.exists:
                raise NotFound("Leaderboard not found")
            existing = ref.get(transaction=tx)
            if existing.exists:
                return existing.to_dict() or {}, False
            lb_doc = lb.to_dict() or {}
            active = None
            if lb_doc.get("active_run_id"):
                snap = self._runs(ws, lb_id).document(lb_doc["active_run_id"]).get(transaction=tx)
                active = snap.to_dict() if snap.exists else None
                if active is not None and active.get("status") not in ACTIVE_STATUSES:
                    active = None
            check(lb_doc, active)
            tx.create(ref, record)
            tx.update(lb_ref, {"active_run_id": run_id})
            return record, True

        return transact(self._db, run)

    def get(self, ws: str, lb_id: str, run_id: str) -> Doc | None:
        snap = self._runs(ws, lb_id).document(run_id).get()
        return snap.to_dict() if snap.exists else None

    def page(self, ws: str, lb_id: str, *, limit: int, offset: int) -> tuple[list[Doc], int]:
        return page(self._runs(ws, lb_id), order_by="created_at", limit=limit, offset=offset)

    def recent(self, ws: str, lb_id: str, n: int) -> list[Doc]:
        query = self._runs(ws, lb_id).order_by("created_at", direction=firestore.Query.DESCENDING)
        return [d.to_dict() or {} for d in query.limit(n).stream()]

    def transition(
        self,
        ws: str,
        lb_id: str,
        run_id: str,
        *,
        allowed_from: Iterable[str],
        fields: Doc,
        leaderboard_fields: Callable[[Doc, Doc], Doc] | None = None,
        run_fields: Callable[[Doc], Doc] | None = None,
    ) -> Doc | None:
        """Move a run to a new state if it is in one of ``allowed_from``; returns the updated
        run, or None when it was elsewhere (a duplicate task, a cancel that lost a race).

        The run stops being the leaderboard's active run in the same transaction when it
        leaves the active states; ``leaderboard_fields(lb, run)`` adds more to that update.
        """
        allowed = set(allowed_from)
        ref = self._runs(ws, lb_id).document(run_id)
        lb_ref = self._lb(ws, lb_id)

        def run(tx: firestore.Transaction) -> Doc | None:
            snap = ref.get(transaction=tx)
            lb = lb_ref.get(transaction=tx)
            if not snap.exists:
                raise NotFound("Run not found")
            current = snap.to_dict() or {}
            if current.get("status") not in allowed:
                return None
            lb_doc = (lb.to_dict() or {}) if lb.exists else {}
            extra = run_fields(lb_doc) if run_fields is not None else {}
            updated = {**current, **fields, **extra}
            tx.update(ref, {**fields, **extra})
            if lb.exists:
                lb_update: Doc = {}
                if (
                    fields.get("status") not in ACTIVE_STATUSES
                    and lb_doc.get("active_run_id") == run_id
                ):
                    lb_update["active_run_id"] = None
                if leaderboard_fields is not None:
                    lb_update |= leaderboard_fields(lb_doc, updated)
                if lb_update:
                    tx.update(lb_ref, lb_update)
            return updated

        return transact(self._db, run)

    # --- cells --------------------------------------------------------------------------
    def get_cell(self, ws: str, lb_id: str, run_id: str, cell_id: str) -> Doc | None:
        snap = self._cells(ws, lb_id, run_id).document(cell_id).get()
        return unpack_cell(snap.to_dict() or {}) if snap.exists else None

    # Cell writes are conditional on the update time of the cell as it was read (Firestore's
    # precondition), not transactions: a transaction's reads lock the document until it ends,
    # and a worker that dies mid-transaction would leave the cell locked for a minute
    # (production) or for good (the emulator), stalling whoever resumes its work.
    def _cell_ref(self, ws: str, lb_id: str, run_id: str, cell_id: str) -> Any:
        return self._cells(ws, lb_id, run_id).document(cell_id)

    def _if_unchanged(self, snap: Any) -> Any:
        return self._db.write_option(last_update_time=snap.update_time)

    def claim_cell(
        self,
        ws: str,
        lb_id: str,
        run_id: str,
        cell_id: str,
        *,
        states: Collection[str | None],
        owner: str,
        now: datetime,
        until: datetime,
        placeholder: Doc,
    ) -> Claim:
        """Take the cell's lease if it is in one of ``states`` (None: it does not exist yet,
        and ``placeholder`` is created) and no other owner holds a live lease."""
        ref = self._cell_ref(ws, lb_id, run_id, cell_id)
        lease = {"lease_owner": owner, "lease_until": until, "updated_at": now}
        for _ in range(CONDITIONAL_ATTEMPTS):
            snap = ref.get()
            cell: Doc | None = unpack_cell(snap.to_dict() or {}) if snap.exists else None
            if (cell or {}).get("state") not in states:
                return Claim("done", cell)
            try:
                if cell is None:
                    ref.create(pack_cell({**placeholder, **lease}))
                    return Claim("claimed", {**placeholder, **lease})
                holder, held_until = cell.get("lease_owner"), cell.get("lease_until")
                if holder not in (None, owner) and held_until is not None and held_until > now:
                    return Claim("busy", cell, (held_until - now).total_seconds())
                ref.update(lease, option=self._if_unchanged(snap))
                return Claim("claimed", {**cell, **lease})
            except (AlreadyExists, FailedPrecondition):
                continue  # someone wrote it between our read and our write: look again
        raise TransientFailure("The cell keeps changing under this task; retry shortly", 1)

    def renew_lease(
        self, ws: str, lb_id: str, run_id: str, cell_id: str, *, owner: str, now: datetime,
        until: datetime,
    ) -> bool:  # fmt: skip
        """Extend our lease (a heartbeat, which also counts as progress); False if lost."""
        return self._while_ours(
            ws, lb_id, run_id, cell_id, owner, {"lease_until": until, "updated_at": now}
        )

    def release_lease(self, ws: str, lb_id: str, run_id: str, cell_id: str, *, owner: str) -> None:
        """Give the lease up early (the task failed): a retry need not wait for it to lapse."""
        self._while_ours(
            ws, lb_id, run_id, cell_id, owner, {"lease_owner": None, "lease_until": None}
        )

    def save_cell(
        self,
        ws: str,
        lb_id: str,
        run_id: str,
        cell_id: str,
        cell: Doc,
        *,
        owner: str,
        cache: CacheWrite | None = None,
    ) -> bool:
        """Replace the cell with ``cell`` (the lease goes) if ``owner`` still holds its lease;
        False when the lease was lost (it lapsed and another delivery took over, whose result
        then stands). A cell saved scored also counts in the run's progress, in the same
        atomic commit: a cell is scored once (no claim takes a scored cell), so the count is
        exact under duplicate delivery. ``cache`` goes into the response cache in that commit
        too (one commit a task, not two); a delivery whose lease was lost caches nothing."""
        replace = {
            **pack_cell(cell),
            # A cell stored before samples were packed keeps them as a list: drop it.
            "samples": firestore.DELETE_FIELD,
            "lease_owner": firestore.DELETE_FIELD,
            "lease_until": firestore.DELETE_FIELD,
        }
        also: list[tuple[Any, Doc, Any]] = []
        if cell.get("state") == CellState.SCORED:
            also.append((
                self._progress_shard(ws, lb_id, run_id, cell_id),
                {"cells": firestore.Increment(1), "samples": firestore.Increment(int(cell["n"]))},
                True,
            ))  # fmt: skip
        if cache is not None and cache.entries:
            also.append(self._cache_merge(ws, cache))
        return self._while_ours(ws, lb_id, run_id, cell_id, owner, replace, also=also)

    def _progress_shard(self, ws: str, lb_id: str, run_id: str, cell_id: str) -> Any:
        return self._progress_ref(ws, lb_id, run_id, _shard(cell_id))

    def _progress_ref(self, ws: str, lb_id: str, run_id: str, shard: int) -> Any:
        return self._runs(ws, lb_id).document(run_id).collection("progress").document(str(shard))

    def _while_ours(
        self,
        ws: str,
        lb_id: str,
        run_id: str,
        cell_id: str,
        owner: str,
        fields: Doc,
        also: list[tuple[Any, Doc, Any]] | None = None,
    ) -> bool:
        """Write ``fields`` to the cell if ``owner`` holds its lease, conditionally on the cell
        being as read (with ``also``, merges (reference, data, merge) into other documents in
        the same commit); False if the lease is not (or no longer) ``owner``'s."""
        ref = self._cell_ref(ws, lb_id, run_id, cell_id)
        for _ in range(CONDITIONAL_ATTEMPTS):
            # Only the owner is needed; the snapshot's update time still guards the write.
            snap = ref.get(field_paths=["lease_owner"])
            if not snap.exists or (snap.to_dict() or {}).get("lease_owner") != owner:
                return False
            try:
                if not also:
                    ref.update(fields, option=self._if_unchanged(snap))
                else:
                    batch = self._db.batch()
                    batch.update(ref, fields, option=self._if_unchanged(snap))
                    for other, data, merge in also:
                        batch.set(other, data, merge=merge)
                    batch.commit()
                return True
            except FailedPrecondition:
                continue
        raise TransientFailure("The cell keeps changing under this task; retry shortly", 1)

    def last_cell_write(self, ws: str, lb_id: str, run_id: str) -> datetime | None:
        """When any cell of the run was last written (saved, claimed or its lease renewed):
        the run's last sign of progress."""
        query = (
            self._cells(ws, lb_id, run_id)
            .order_by("updated_at", direction=firestore.Query.DESCENDING)
            .limit(1)
        )
        for snap in query.stream():
            value = (snap.to_dict() or {}).get("updated_at")
            return value if isinstance(value, datetime) else None
        return None

    def cells(self, ws: str, lb_id: str, run_id: str, *, model_id: str | None = None) -> list[Doc]:
        query = self._cells(ws, lb_id, run_id)
        if model_id is not None:
            query = query.where(
                filter=firestore.FieldFilter("leaderboard_model_id", "==", model_id)
            )
        return [unpack_cell(d.to_dict() or {}) for d in query.stream()]

    def cell_summaries(self, ws: str, lb_id: str, run_id: str) -> list[Doc]:
        """Every cell's model, chunk, state and summary, without its answers (a field mask:
        finalize reads a few numbers per sample, packed, not the outputs). One stream: split
        into a query per model, read at once, it was slower on the emulator (each query
        scans the collection)."""
        query = self._cells(ws, lb_id, run_id).select(
            ["leaderboard_model_id", "chunk", "state", "summary"]
        )
        return [d.to_dict() or {} for d in query.stream()]

    def cell_states(self, ws: str, lb_id: str, run_id: str) -> dict[tuple[str, int], str]:
        """(model, chunk) -> state of every cell written, without reading their samples."""
        query = self._cells(ws, lb_id, run_id).select(["leaderboard_model_id", "chunk", "state"])
        states: dict[tuple[str, int], str] = {}
        for snap in query.stream():
            c = snap.to_dict() or {}
            states[(c["leaderboard_model_id"], c["chunk"])] = c["state"]
        return states

    def count_cells(self, ws: str, lb_id: str, run_id: str, state: str) -> int:
        query = self._cells(ws, lb_id, run_id).where(
            filter=firestore.FieldFilter("state", "==", state)
        )
        return int(query.count().get()[0][0].value)

    def progress(self, ws: str, lb_id: str, run_id: str) -> tuple[int, int]:
        """(scored cells, scored samples): the run's counter shards, ``PROGRESS_SHARDS`` reads
        whatever the number of cells (a count over the cells grew with them, once per task)."""
        run_ref = self._runs(ws, lb_id).document(run_id)
        refs = [run_ref.collection("progress").document(str(i)) for i in range(PROGRESS_SHARDS)]
        cells = samples = 0
        for snap in self._db.get_all(refs):
            if snap.exists:
                d = snap.to_dict() or {}
                cells += int(d.get("cells") or 0)
                samples += int(d.get("samples") or 0)
        return cells, samples

    # --- dataset versions ---------------------------------------------------------------
    def get_version(self, ws: str, lb_id: str, version_id: str) -> Doc | None:
        snap = self._versions(ws, lb_id).document(version_id).get()
        return snap.to_dict() if snap.exists else None

    def put_version(
        self, ws: str, lb_id: str, version_id: str, meta: Doc, chunks: list[list[Doc]]
    ) -> None:
        """Write a version's chunks, then its document: a version whose document exists is
        complete, so a crash half-way leaves nothing that looks usable."""
        ref = self._versions(ws, lb_id).document(version_id)
        docs = {
            i: {"index": i, "samples": samples, "inputs_sha256": inputs_digest(samples)}
            for i, samples in enumerate(chunks)
        }
        for group in commit_groups(list(docs.items())):
            batch = self._db.batch()
            for i in group:
                batch.set(ref.collection("chunks").document(f"{i:05d}"), docs[i])
            batch.commit()
        # The same content pinned by an earlier run is identical by construction.
        with suppress(AlreadyExists):
            ref.create(meta)
        # Kept as written: the first tasks of the run often land on this instance, and a
        # version never changes, so they need not read back what it has just stored.
        for i, samples in enumerate(chunks):
            self._chunks.put((ws, lb_id, version_id, i), [dict(s) for s in samples])

    def chunk_digests(self, ws: str, lb_id: str, version_id: str) -> dict[int, str]:
        """Chunk index -> its inputs' digest, without reading the samples (a field mask); a
        chunk pinned before digests were kept is read whole."""
        chunks = self._versions(ws, lb_id).document(version_id).collection("chunks")
        digests: dict[int, str] = {}
        for snap in chunks.select(["index", "inputs_sha256"]).stream():
            d = snap.to_dict() or {}
            digests[int(d["index"])] = d.get("inputs_sha256") or inputs_digest(
                self.get_chunk(ws, lb_id, version_id, int(d["index"]))
            )
        return digests

    def get_chunk(self, ws: str, lb_id: str, version_id: str, chunk: int) -> list[Doc]:
        """A chunk's samples (copies: the caller may change them)."""
        key = (ws, lb_id, version_id, chunk)
        samples = self._chunks.get(key)
        if samples is None:
            samples = self._read_chunk(ws, lb_id, version_id, chunk)
            self._chunks.put(key, samples)
        return [dict(s) for s in samples]

    def _read_chunk(self, ws: str, lb_id: str, version_id: str, chunk: int) -> list[Doc]:
        snap = (
            self._versions(ws, lb_id)
            .document(version_id)
            .collection("chunks")
            .document(f"{chunk:05d}")
            .get()
        )
        if not snap.exists:
            raise Conflict(f"Dataset chunk {chunk} of version {version_id} is missing")
        samples: list[Doc] = (snap.to_dict() or {}).get("samples", [])
        return samples

    # --- response cache -----------------------------------------------------------------
    # One document per chunk of calls (``chunk_cache_id``), its entries keyed by each call's
    # ``cache_key``: one write per task instead of one per sample, one read per lookup.
    def cached(self, ws: str, chunk_ids: Iterable[str], now: datetime) -> dict[str, dict[str, Doc]]:
        """Chunk document id -> its unexpired entries (call key -> answer), for those of
        ``chunk_ids`` that exist."""
        refs = [self._cache(ws).document(c) for c in dict.fromkeys(chunk_ids)]
        found: dict[str, dict[str, Doc]] = {}
        for start in range(0, len(refs), 300):
            for snap in self._db.get_all(refs[start : start + 300]):
                doc = snap.to_dict() if snap.exists else None
                if doc is not None and doc.get("expires_at") and doc["expires_at"] > now:
                    found[snap.id] = {
                        # Packed since entries were packed; maps before.
                        key: unpack(entry) if isinstance(entry, bytes) else entry
                        for key, entry in (doc.get("entries") or {}).items()
                    }
        return found

    def cache_put(self, ws: str, write: CacheWrite) -> None:
        """Add the write's entries to its chunk's document (a retry adds what its first
        attempt could not), pushing its expiry out."""
        ref, data, merge = self._cache_merge(ws, write)
        ref.set(data, merge=merge)

    def _cache_merge(self, ws: str, write: CacheWrite) -> tuple[Any, Doc, bool]:
        """The merge that adds ``write`` to its document. Each entry is one packed value, so
        the merge replaces entries whole and its field mask names one path per entry (as
        maps, six per answer: a 750-path mask cost the emulator ~0.3 s a chunk under load)."""
        entries = {key: pack(entry) for key, entry in write.entries.items()}
        return (
            self._cache(ws).document(write.chunk_id),
            {"entries": entries, "expires_at": write.expires},
            True,
        )

    def create_cells(self, ws: str, lb_id: str, run_id: str, cells: dict[str, Doc]) -> int:
        """Create the cells that do not exist yet (the ones a run could answer from the cache
        alone), counting the scored ones in the run's progress in the same commits; returns how
        many were created. Conditional on absence, so a duplicate delivery creates and counts
        none twice."""
        pending = dict(cells)
        created = 0
        for _ in range(CONDITIONAL_ATTEMPTS):
            if not pending:
                return created
            # Cells somebody else wrote meanwhile are theirs.
            refs = {cid: self._cell_ref(ws, lb_id, run_id, cid) for cid in pending}
            for snap in self._db.get_all(list(refs.values())):
                if snap.exists:
                    pending.pop(snap.id, None)
            try:
                for part in commit_groups(list(pending.items()), extra_writes=1):
                    batch = self._db.batch()
                    scored = [cid for cid in part if pending[cid].get("state") == CellState.SCORED]
                    for cid in part:
                        batch.create(refs[cid], pack_cell(pending[cid]))
                    if scored:
                        # The whole commit counts in one shard (one write, not one per shard).
                        batch.set(
                            self._progress_ref(ws, lb_id, run_id, _shard(part[0])),
                            {
                                "cells": firestore.Increment(len(scored)),
                                "samples": firestore.Increment(
                                    sum(int(pending[cid]["n"]) for cid in scored)
                                ),
                            },
                            merge=True,
                        )
                    batch.commit()
                    created += len(part)
                    for cid in part:
                        pending.pop(cid)
            except AlreadyExists:
                continue  # a duplicate got there first: look again, create what is left
        raise TransientFailure("Cells keep appearing under this task; retry shortly", 1)


def _shard(cell_id: str) -> int:
    """The progress counter a cell counts in, spread by its id."""
    return int(hashlib.sha256(cell_id.encode()).hexdigest(), 16) % PROGRESS_SHARDS


class CacheWrite(NamedTuple):
    """Entries to add to one response-cache document (``chunk_cache_id``)."""

    chunk_id: str
    entries: dict[str, Doc]
    expires: datetime


class _ChunkCache:
    """Dataset chunks by (workspace, leaderboard, version, chunk), least recently used out
    first once their estimated size passes ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._items: OrderedDict[tuple[str, str, str, int], tuple[list[Doc], int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str, str, int]) -> list[Doc] | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: tuple[str, str, str, int], samples: list[Doc]) -> None:
        size = sum(
            64 + sum(len(v) if isinstance(v, str) else 16 for v in s.values()) for s in samples
        )
        if size > self._max:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (samples, size)
            self._bytes += size
            while self._bytes > self._max:
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped
