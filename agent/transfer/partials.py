"""The partial blobs one run of a pull holds (see TransferJob in pull.py)."""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from llmesh.agent.store.blobs import BlobStore, PartialBlob
from llmesh.agent.testing import ReceiveFaults
from llmesh.common.errors import FailedPrecondition
from llmesh.common.pieces import PieceIndex
from llmesh.common.units import short_digest

log = logging.getLogger("llmesh.agent.transfer")


class Partials:
    """The partial blobs one run of a job holds. Every open goes through it and registers on
    the opening thread itself, so a partial whose opener was cancelled is still held here;
    ``end_all`` ends each exactly once, and an open after it is refused (and undone)."""

    def __init__(self, store: BlobStore, faults: ReceiveFaults | None):
        self.store, self.faults = store, faults
        self._lock = threading.Lock()
        self._held: dict[str, PartialBlob] = {}
        self._ended = False

    def open(self, digest: str, size: int, index: PieceIndex, index_id: str | None = None) -> PartialBlob:
        """Runs on a worker thread. ``index_id``: the registry's for this digest (see _File.trusted)."""
        self._refuse_if_ended(digest)
        if self.faults is not None:
            self.faults.before_open()
        blob = self.store.open_partial(digest, size, index, index_id=index_id)
        with self._lock:
            if not self._ended:
                self._held[digest] = blob
                return blob
        blob.close()  # the job ended while this one was being opened
        raise FailedPrecondition(f"the job has ended; {short_digest(digest)} is not received")

    def complete(self, blob: PartialBlob) -> Path:
        """Runs on a worker thread. A blob that fails its check stays held (and is ended)."""
        path = blob.complete()
        with self._lock:
            self._held.pop(blob.digest, None)
        return path

    def end_all(self, discard: bool) -> None:
        """End every partial held: delete it (``discard``) or keep its verified pieces."""
        with self._lock:
            self._ended = True
            held, self._held = list(self._held.values()), {}
        for blob in held:
            try:
                blob.abort() if discard else blob.close()
            except Exception:  # one bad partial must not keep the others claimed
                log.exception("ending the partial of %s failed", short_digest(blob.digest))

    def _refuse_if_ended(self, digest: str) -> None:
        with self._lock:
            if self._ended:
                raise FailedPrecondition(f"the job has ended; {short_digest(digest)} is not received")
