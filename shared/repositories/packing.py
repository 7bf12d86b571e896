"""Lists of records stored as one MessagePack blob instead of Firestore maps.

A cell holds up to ``RUN_CHUNK_SIZE`` answer records of about ten fields each, and a chunk's
response-cache document one entry per call. As Firestore maps every one of those values goes
through the client's proto-plus encoding, one message per value: measured here, 16 ms of CPU
to encode one cell of 125 records and 20-50 ms for its cache entries (merged), which at 128
calls in flight was a third of the worker's interpreter. Packed, the same cell costs 0.5 ms,
and the emulator (and Firestore's indexes) see one value instead of a thousand. Nothing queries
inside a cell's samples or a cache entry: they are read whole, by key.

MessagePack rather than JSON: strings are length-prefixed, never escaped, so a record's packed
size is its UTF-8 size plus a few bytes, and the cell's byte budget (``CELL_MAX_BYTES``) holds
whatever the model wrote (JSON would write a control character in six bytes).
"""

from __future__ import annotations

from typing import Any

import msgpack

from shared.repositories.base import Doc


def pack(value: Any) -> bytes:
    """Records (or one record) as bytes. Only JSON-like values: anything else is a bug here,
    and raises ``TypeError``."""
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def unpack(blob: bytes) -> Any:
    return msgpack.unpackb(blob, raw=False)


def pack_cell(cell: Doc) -> Doc:
    """The cell as stored: its ``samples`` packed into ``samples_packed``."""
    if "samples" not in cell:
        return cell
    stored = {k: v for k, v in cell.items() if k != "samples"}
    stored["samples_packed"] = pack(cell["samples"])
    return stored


def unpack_cell(stored: Doc) -> Doc:
    """The cell as the code sees it, whether stored packed or (before packing) as maps."""
    if "samples_packed" not in stored:
        return stored
    cell = {k: v for k, v in stored.items() if k != "samples_packed"}
    cell["samples"] = unpack(stored["samples_packed"])
    return cell
