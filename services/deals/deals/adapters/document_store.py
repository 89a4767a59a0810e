"""MongoDB storage of deals' documents (docs/documents.md).

- `documents`: one per document (metadata, who made it, to whom it was sent), with its events
  in the outbox of the same document;
- `document_files` (GridFS): the PDF, under the document's id, with its SHA-256;
- `document_numbers`: a sequence per numbered template and year (`invoice:2026`). A number is
  taken by compare-and-set on `last` and noted as pending until its document is stored; a
  number whose request died before storing its document is given to the next document, so
  the sequence has neither gaps nor duplicates, across concurrent requests and restarts.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from gridfs import AsyncGridFSBucket
from gridfs.errors import FileExists, NoFile
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crmhub.aggregate_store import Stored
from crmhub.events import CloudEvent
from crmhub.mongo import Document, insert_once
from crmhub.outbox import OUTBOX, outbox_entries

# A pending number older than this whose document does not exist belongs to a request that died.
STALE_PENDING = timedelta(seconds=30)


class DocumentStore:
    def __init__(
        self, db: AsyncDatabase[Document], *, on_stored: Stored = lambda collection, doc_id, entries: None
    ) -> None:
        self.documents = db["documents"]
        self.numbers = db["document_numbers"]
        self.files = AsyncGridFSBucket(db, bucket_name="document_files")
        self._on_stored = on_stored

    # --- numbers -----------------------------------------------------------------------------------

    async def take_number(
        self, sequence: str, document_id: str, now: datetime, exists: Callable[[str], Awaitable[bool]] | None = None
    ) -> int:
        """The next number of `sequence` for this document (the same one if it has one pending)."""
        exists = exists or self.exists
        while True:
            state = await self.numbers.find_one({"_id": sequence}) or {"last": 0, "pending": []}
            pending = state.get("pending") or []
            mine = next((p for p in pending if p["document_id"] == document_id), None)
            if mine is not None:
                return int(mine["n"])
            for orphan in sorted(pending, key=lambda p: p["n"]):
                if orphan["at"].replace(tzinfo=now.tzinfo) > now - STALE_PENDING or await exists(orphan["document_id"]):
                    continue
                taken = await self.numbers.update_one(
                    {
                        "_id": sequence,
                        # n and document_id each name one pending entry: `$` is that entry
                        "pending.n": orphan["n"],
                        "pending.document_id": orphan["document_id"],
                    },
                    {"$set": {"pending.$.document_id": document_id, "pending.$.at": now}},
                )
                if taken.modified_count == 1:
                    return int(orphan["n"])
            last = int(state.get("last", 0))
            entry = {"n": last + 1, "document_id": document_id, "at": now}
            try:
                moved = await self.numbers.update_one(
                    {"_id": sequence, "last": last},
                    {"$set": {"last": last + 1}, "$push": {"pending": entry}},
                    upsert=last == 0 and "_id" not in state,
                )
            except DuplicateKeyError:
                continue  # another request made the sequence first
            if moved.modified_count == 1 or moved.upserted_id is not None:
                return last + 1

    async def number_used(self, sequence: str, document_id: str) -> None:
        await self.numbers.update_one({"_id": sequence}, {"$pull": {"pending": {"document_id": document_id}}})

    # --- documents and files -----------------------------------------------------------------------

    async def exists(self, document_id: str) -> bool:
        return await self.documents.find_one({"_id": document_id}, {"_id": 1}) is not None

    async def get(self, document_id: str) -> Document | None:
        return await self.documents.find_one({"_id": document_id}, {OUTBOX: 0})

    async def put_file(self, document_id: str, name: str, content: bytes, sha256: str) -> None:
        """Store the PDF under the document's id (a retry finds it stored and keeps it)."""
        with contextlib.suppress(FileExists):
            await self.files.upload_from_stream_with_id(
                document_id, name, content, metadata={"sha256": sha256, "media_type": "application/pdf"}
            )

    async def file(self, document_id: str) -> bytes | None:
        try:
            stream = await self.files.open_download_stream(document_id)
        except NoFile:
            return None
        return bytes(await stream.read())

    async def add(self, doc: Document, event: CloudEvent) -> bool:
        """Store a new document with its event; False when it exists (a repeated request)."""
        entries = outbox_entries([event])
        try:
            await self.documents.insert_one({**doc, "version": 1, OUTBOX: entries})
        except DuplicateKeyError:
            return False
        self._on_stored(self.documents.name, doc["_id"], entries)
        return True

    async def mark_sent(self, document_id: str, address: str, record: Document, event: CloudEvent) -> bool:
        """Note the document sent to `address` with its event; False when it was sent there before."""
        entries = outbox_entries([event])
        result = await self.documents.update_one(
            {"_id": document_id, "sent.address": {"$ne": address}},
            {"$push": {"sent": record, OUTBOX: {"$each": entries}}, "$inc": {"version": 1}},
        )
        if result.modified_count != 1:
            return False
        self._on_stored(self.documents.name, document_id, entries)
        return True


async def kept_secret(collection: AsyncCollection[Document], name: str) -> str:
    """A random key made once and kept (every instance of the service reads the same one)."""
    await insert_once(collection, {"_id": name, "secret": secrets.token_hex(32)})
    found = await collection.find_one({"_id": name})
    assert found is not None
    return str(found["secret"])
