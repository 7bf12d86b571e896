"""PUSH events, their limit counters, and the dataset versions consolidated from them.

Paths (under ``workspaces/{ws}/leaderboards/{lb}``)::

    events/{key}                         one event; the key is the dedupe hash (domain/events.py)
    event_counters/{month}__{shard}      one shard of the events counted in a UTC month, and
                                         in each of its days (``days.dYYYYMMDD``)
    dataset_versions/{v}                 a numbered version (``number``), as GET runs pin them
    dataset_versions/{v}/chunks/{i}      its rows, the shape every run reads
    dataset_versions/{v}/consumed/{i}    the event keys it took in (so a crash is mended)

``store`` reserves quota from one shard at a time (a conditional write of its counter) and
then creates the events, each only if absent: an event is stored once (dedupe) and only
within quota (limits), so neither rule holds only "usually". Consolidated versions become
visible in the transaction that moves the leaderboard's ``dataset_state.current`` pointer,
so concurrent consolidations cannot both win, and a version that lost leaves only
unreferenced chunks behind.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.api_core.exceptions import AlreadyExists, Conflict, FailedPrecondition
from google.cloud import firestore
from google.cloud.firestore_v1 import aggregation

from shared.domain.errors import NotFound, TransientFailure
from shared.domain.events import COUNTER_SHARDS, DAILY, MONTHLY, shard_caps
from shared.repositories.base import Doc, commit_groups, leaderboard_ref, transact

# Events written per transaction: far under Firestore's per-commit limits (500 writes were the
# old cap), and small enough that a contended retry is cheap.
EVENTS_PER_TRANSACTION = 250
MARK_BATCH = 400
KEYS_PER_DOCUMENT = 2000
COUNTER_ATTEMPTS = 30


@dataclass
class StoreOutcome:
    stored: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    # key -> the limit that refused it
    refused: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Windows:
    day: str
    month: str
    daily_limit: int
    monthly_limit: int


class EventRepository:
    def __init__(self, db: firestore.Client) -> None:
        self._db = db

    # --- references ---------------------------------------------------------------------
    def _lb(self, ws: str, lb_id: str) -> Any:
        return leaderboard_ref(self._db, ws, lb_id)

    def _events(self, ws: str, lb_id: str) -> Any:
        return self._lb(ws, lb_id).collection("events")

    def _counter(self, ws: str, lb_id: str, month: str, shard: int) -> Any:
        return self._lb(ws, lb_id).collection("event_counters").document(f"{month}__{shard:02d}")

    def _versions(self, ws: str, lb_id: str) -> Any:
        return self._lb(ws, lb_id).collection("dataset_versions")

    # --- ingest -------------------------------------------------------------------------
    def store(
        self, ws: str, lb_id: str, events: Sequence[tuple[str, Doc]], windows: Windows
    ) -> StoreOutcome:
        """Create each (key, event) unless its key exists, within the window limits."""
        outcome = StoreOutcome()
        seen: set[str] = set()
        unique: list[tuple[str, Doc]] = []
        for key, doc in events:  # a twin inside the request is a duplicate too
            if key in seen:
                outcome.duplicates.append(key)
            else:
                seen.add(key)
                unique.append((key, doc))
        for start in range(0, len(unique), EVENTS_PER_TRANSACTION):
            self._store_part(
                ws, lb_id, unique[start : start + EVENTS_PER_TRANSACTION], windows, outcome
            )
        return outcome

    def _store_part(
        self,
        ws: str,
        lb_id: str,
        events: list[tuple[str, Doc]],
        windows: Windows,
        outcome: StoreOutcome,
    ) -> None:
        day_caps = shard_caps(windows.daily_limit)
        month_caps = shard_caps(windows.monthly_limit)
        # A random shard spreads the writers; its own quota is the fast path.
        shard = random.randrange(COUNTER_SHARDS)

        def own(n: int) -> tuple[int, str | None]:
            return self._reserve(ws, lb_id, windows, shard, day_caps[shard], month_caps[shard], n)

        def borrowed(n: int) -> tuple[int, str | None]:
            return self._borrow(ws, lb_id, windows, shard, day_caps, month_caps, n)

        todo, why = self._store_on_shard(ws, lb_id, events, own, shard, windows, outcome)
        if todo:  # that shard is spent: the slow path takes what the others have left
            todo, why = self._store_on_shard(ws, lb_id, todo, borrowed, shard, windows, outcome)
        for key, _ in todo:
            outcome.refused[key] = why or DAILY

    def _store_on_shard(
        self,
        ws: str,
        lb_id: str,
        events: list[tuple[str, Doc]],
        reserve: Callable[[int], tuple[int, str | None]],
        shard: int,
        windows: Windows,
        outcome: StoreOutcome,
    ) -> tuple[list[tuple[str, Doc]], str | None]:
        """Store what ``reserve`` grants; returns the events left over and, when the quota ran
        out, which limit's.

        Quota is reserved first, then the events are created, each only if absent; one that a
        concurrent push stored meanwhile is a duplicate and gives its quota back. (Reading the
        events inside a transaction with the counters instead makes overlapping batches wait
        on each other's locks.) A crash between the two steps leaves quota counted for events
        never stored: the limit can then be reached early, never exceeded.
        """
        col = self._events(ws, lb_id)
        existing = {
            s.id for s in self._db.get_all([col.document(k) for k, _ in events]) if s.exists
        }
        fresh = [(k, d) for k, d in events if k not in existing]
        outcome.duplicates.extend(k for k, _ in events if k in existing)
        if not fresh:
            return [], None
        take, why = reserve(len(fresh))
        stored = self._create_all(col, fresh[:take])
        raced = [k for k, _ in fresh[:take] if k not in stored]
        if raced:
            self._reserve(ws, lb_id, windows, shard, 0, 0, -len(raced))
            outcome.duplicates.extend(raced)
        outcome.stored.extend(k for k, _ in fresh[:take] if k in stored)
        return fresh[take:], why

    def _reserve(
        self,
        ws: str,
        lb_id: str,
        windows: Windows,
        shard: int,
        day_cap: int,
        month_cap: int,
        wanted: int,
    ) -> tuple[int, str | None]:
        """Take up to ``wanted`` from the shard's day and month quotas (a negative ``wanted``
        gives that much back); returns what was taken and, if short, which quota ran out.

        One document per (month, shard) holds both counts, written on a precondition (its
        update time as read), not in a transaction: concurrent transactions that read the
        same counter and then write it wait on each other's read locks (the emulator until
        its lock timeout), where a failed precondition just reads again. A shard's quota is
        its share of the limit plus what it borrowed (``adj``, ``adj_days``), less what it lent.
        """
        ref = self._counter(ws, lb_id, windows.month, shard)
        day = _day_key(windows.day)
        for attempt in range(COUNTER_ATTEMPTS):
            snap = ref.get()
            doc = (snap.to_dict() or {}) if snap.exists else {}
            c = _Counts.of(doc, day, day_cap, month_cap)
            take = wanted if wanted < 0 else max(0, min(wanted, c.room_day, c.room_month))
            why = None
            if take < wanted:
                why = MONTHLY if c.room_month <= c.room_day else DAILY
            if not take:
                return 0, why
            try:
                if not snap.exists:
                    ref.create(
                        {
                            "window": windows.month,
                            "shard": shard,
                            "count": take,
                            "days": {day: take},
                        }
                    )
                else:
                    ref.update(
                        {"count": c.month + take, f"days.{day}": c.day + take},
                        option=self._db.write_option(last_update_time=snap.update_time),
                    )
                return take, why
            except (AlreadyExists, Conflict, FailedPrecondition):
                time.sleep(random.uniform(0, 0.005 * (attempt + 1)))  # another push won
        raise TransientFailure("Too many concurrent pushes; retry shortly", retry_after=1)

    def _borrow(
        self,
        ws: str,
        lb_id: str,
        windows: Windows,
        shard: int,
        day_caps: list[int],
        month_caps: list[int],
        wanted: int,
    ) -> tuple[int, str | None]:
        """The slow path, once ``shard`` is spent: move the quota other shards have left to
        it, and take up to ``wanted`` there, in one atomic batch whose every write is
        conditional on its document as read. What the shards can grant together is what the
        limits have left, so a push is refused only when a limit is really reached; every
        shard's quota still adds up to the limit, so the fast path stays exact.
        """
        day = _day_key(windows.day)
        refs = [self._counter(ws, lb_id, windows.month, i) for i in range(COUNTER_SHARDS)]
        for attempt in range(COUNTER_ATTEMPTS):
            snaps = {s.reference.id: s for s in self._db.get_all(refs)}
            counts = []
            for i, ref in enumerate(refs):
                snap = snaps.get(ref.id)
                doc = (snap.to_dict() or {}) if snap is not None and snap.exists else {}
                counts.append(_Counts.of(doc, day, day_caps[i], month_caps[i]))
            spare_day = sum(max(0, c.room_day) for c in counts)
            spare_month = sum(max(0, c.room_month) for c in counts)
            take = max(0, min(wanted, spare_day, spare_month))
            why = None if take == wanted else (MONTHLY if spare_month <= spare_day else DAILY)
            if not take:
                return 0, why
            need_day = max(0, take - max(0, counts[shard].room_day))
            need_month = max(0, take - max(0, counts[shard].room_month))
            batch = self._db.batch()
            lent_day = lent_month = 0
            for i, (ref, c) in enumerate(zip(refs, counts, strict=True)):
                if i == shard:
                    continue
                give_day = min(max(0, c.room_day), need_day - lent_day)
                give_month = min(max(0, c.room_month), need_month - lent_month)
                if give_day or give_month:
                    lent_day, lent_month = lent_day + give_day, lent_month + give_month
                    self._write(
                        batch,
                        ref,
                        snaps.get(ref.id),
                        windows,
                        i,
                        {
                            "adj": c.adj - give_month,
                            f"adj_days.{day}": c.adj_day - give_day,
                        },
                    )
            me = counts[shard]
            self._write(
                batch,
                refs[shard],
                snaps.get(refs[shard].id),
                windows,
                shard,
                {
                    "count": me.month + take,
                    f"days.{day}": me.day + take,
                    "adj": me.adj + lent_month,
                    f"adj_days.{day}": me.adj_day + lent_day,
                },
            )
            try:
                batch.commit()
                return take, why
            except (AlreadyExists, Conflict, FailedPrecondition):
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise TransientFailure("Too many concurrent pushes; retry shortly", retry_after=1)

    def _write(
        self, batch: Any, ref: Any, snap: Any, windows: Windows, shard: int, fields: Doc
    ) -> None:
        """A counter write in ``batch``, conditional on the document as read (created if it
        did not exist, which fails if it does by now)."""
        if snap is None or not snap.exists:
            doc: Doc = {"window": windows.month, "shard": shard, "count": 0, "days": {}}
            for path, value in fields.items():  # "a.b" paths into a fresh document
                head, _, tail = path.partition(".")
                if tail:
                    doc.setdefault(head, {})[tail] = value
                else:
                    doc[head] = value
            batch.create(ref, doc)
        else:
            batch.update(
                ref, fields, option=self._db.write_option(last_update_time=snap.update_time)
            )

    def _create_all(self, col: Any, events: list[tuple[str, Doc]]) -> set[str]:
        """Create each event if absent; the keys created. One batch normally; when a twin got
        in first (the batch fails whole), one create each."""
        if not events:
            return set()
        batch = self._db.batch()
        for key, doc in events:
            batch.create(col.document(key), doc)
        try:
            batch.commit()
            return {k for k, _ in events}
        except (AlreadyExists, Conflict):
            pass
        created: set[str] = set()
        for key, doc in events:
            with suppress(AlreadyExists, Conflict):
                col.document(key).create(doc)
                created.add(key)
        return created

    def usage(self, ws: str, lb_id: str, day: str, month: str) -> tuple[int, int]:
        """Events counted today and this month, over all shards."""
        refs = [self._counter(ws, lb_id, month, i) for i in range(COUNTER_SHARDS)]
        docs = [s.to_dict() or {} for s in self._db.get_all(refs) if s.exists]
        key = _day_key(day)
        today = sum(int((d.get("days") or {}).get(key, 0)) for d in docs)
        return today, sum(int(d.get("count", 0)) for d in docs)

    # --- reading events -----------------------------------------------------------------
    def page(self, ws: str, lb_id: str, *, limit: int, offset: int) -> tuple[list[Doc], int]:
        col = self._events(ws, lb_id)
        total = int(col.count().get()[0][0].value)
        query = (
            col.order_by("received_at", direction=firestore.Query.DESCENDING)
            .order_by("seq", direction=firestore.Query.DESCENDING)
            .offset(offset)
            .limit(limit)
        )
        return [d.to_dict() or {} for d in query.stream()], total

    def _pending_query(self, ws: str, lb_id: str) -> Any:
        return self._events(ws, lb_id).where(filter=firestore.FieldFilter("pending", "==", True))

    def pending_count(self, ws: str, lb_id: str, *, at_most: int | None = None) -> int:
        """Events not yet in a version; with ``at_most``, counted only that far (the cost of a
        count grows with what it counts, and a push only asks whether a threshold is met)."""
        query = self._pending_query(ws, lb_id)
        if at_most is not None:
            query = query.limit(at_most)
        agg = aggregation.AggregationQuery(query)
        agg.count(alias="n")
        row: Any = agg.get()[0]
        return int(row[0].value)

    def pending(self, ws: str, lb_id: str) -> list[Doc]:
        """Every event not yet in a version, in arrival order."""
        docs = [d.to_dict() or {} for d in self._pending_query(ws, lb_id).stream()]
        docs.sort(key=lambda d: (d["received_at"], d.get("seq", 0), d["key"]))
        return docs

    def count_since(self, ws: str, lb_id: str, since: datetime | None) -> int:
        """Events received after ``since`` (all of them without it)."""
        query: Any = self._events(ws, lb_id)
        if since is not None:
            query = query.where(filter=firestore.FieldFilter("received_at", ">", since))
        return int(query.count().get()[0][0].value)

    # --- versions -----------------------------------------------------------------------
    def state(self, ws: str, lb_id: str) -> Doc:
        snap = self._lb(ws, lb_id).get()
        if not snap.exists:
            raise NotFound("Leaderboard not found")
        return (snap.to_dict() or {}).get("dataset_state") or {}

    def write_chunks(
        self, ws: str, lb_id: str, version_id: str, chunks: list[list[Doc]], consumed: list[str]
    ) -> None:
        """Everything of a version but its document; invisible until ``commit_version``."""
        ref = self._versions(ws, lb_id).document(version_id)
        writes: list[tuple[Any, Doc]] = [
            (ref.collection("chunks").document(f"{i:05d}"), {"index": i, "samples": samples})
            for i, samples in enumerate(chunks)
        ]
        for i in range(0, len(consumed), KEYS_PER_DOCUMENT):
            writes.append(
                (
                    ref.collection("consumed").document(f"{i // KEYS_PER_DOCUMENT:05d}"),
                    {"keys": consumed[i : i + KEYS_PER_DOCUMENT]},
                )
            )
        for group in commit_groups([(i, data) for i, (_, data) in enumerate(writes)]):
            batch = self._db.batch()
            for i in group:
                batch.set(*writes[i])
            batch.commit()

    def commit_version(
        self, ws: str, lb_id: str, *, expected_current: str | None, meta: Doc, lb_fields: Doc
    ) -> bool:
        """Create the version's document and make it current (``lb_fields`` holds the new
        ``dataset_state``), if the current version is still ``expected_current``; True if this
        call (or an earlier delivery of it) did."""
        lb_ref = self._lb(ws, lb_id)
        ref = self._versions(ws, lb_id).document(meta["id"])

        def run(tx: firestore.Transaction) -> bool:
            snap = lb_ref.get(transaction=tx)
            if not snap.exists:
                raise NotFound("Leaderboard not found")
            current = ((snap.to_dict() or {}).get("dataset_state") or {}).get("current")
            if current == meta["id"]:
                return True
            if current != expected_current:
                return False
            tx.create(ref, meta)
            tx.update(lb_ref, lb_fields)
            return True

        return transact(self._db, run)

    def consumed_keys(self, ws: str, lb_id: str, version_id: str) -> list[str]:
        col = self._versions(ws, lb_id).document(version_id).collection("consumed")
        keys: list[str] = []
        for snap in col.stream():
            keys.extend((snap.to_dict() or {}).get("keys", []))
        return keys

    def mark_consumed(self, ws: str, lb_id: str, version_id: str, keys: Sequence[str]) -> None:
        """Events taken into a version are no longer pending (an event deleted meanwhile is
        skipped: an update of a missing document would fail the batch)."""
        col = self._events(ws, lb_id)
        for start in range(0, len(keys), MARK_BATCH):
            refs = [col.document(k) for k in keys[start : start + MARK_BATCH]]
            batch = self._db.batch()
            for snap in self._db.get_all(refs):
                if snap.exists and (snap.to_dict() or {}).get("pending"):
                    batch.update(snap.reference, {"pending": False, "version_id": version_id})
            batch.commit()

    def finish_marking(self, ws: str, lb_id: str, version_id: str) -> None:
        """Clear ``dataset_state.marking`` once the version's events are marked."""
        lb_ref = self._lb(ws, lb_id)

        def run(tx: firestore.Transaction) -> None:
            snap = lb_ref.get(transaction=tx)
            state = ((snap.to_dict() or {}).get("dataset_state") or {}) if snap.exists else {}
            if state.get("marking") == version_id:
                tx.update(lb_ref, {"dataset_state.marking": None})

        transact(self._db, run)

    def versions(self, ws: str, lb_id: str, *, limit: int, offset: int) -> tuple[list[Doc], int]:
        """The numbered versions, newest first (run-pinned selections have no number)."""
        query = self._versions(ws, lb_id).where(filter=firestore.FieldFilter("number", ">=", 1))
        total = int(query.count().get()[0][0].value)
        page = query.order_by("number", direction=firestore.Query.DESCENDING)
        docs = page.offset(offset).limit(limit).stream()
        return [d.to_dict() or {} for d in docs], total

    def get_version(self, ws: str, lb_id: str, version_id: str) -> Doc | None:
        snap = self._versions(ws, lb_id).document(version_id).get()
        return snap.to_dict() if snap.exists else None

    def version_rows(self, ws: str, lb_id: str, version_id: str) -> Iterator[Doc]:
        col = self._versions(ws, lb_id).document(version_id).collection("chunks")
        for snap in col.order_by("index").stream():
            yield from (snap.to_dict() or {}).get("samples", [])


def _day_key(day: str) -> str:
    return "d" + day.replace("-", "")


@dataclass(frozen=True)
class _Counts:
    """One shard's counts and the quota it has left (its share, plus borrowed, less lent)."""

    day: int
    month: int
    adj_day: int
    adj: int
    room_day: int
    room_month: int

    @classmethod
    def of(cls, doc: Doc, day: str, day_cap: int, month_cap: int) -> _Counts:
        d = int((doc.get("days") or {}).get(day, 0))
        m = int(doc.get("count", 0))
        adj_d = int((doc.get("adj_days") or {}).get(day, 0))
        adj_m = int(doc.get("adj", 0))
        return cls(d, m, adj_d, adj_m, day_cap + adj_d - d, month_cap + adj_m - m)
