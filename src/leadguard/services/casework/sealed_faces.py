"""An urgent search of the person a sealed request is about is refused, whatever its bytes.

A request's candidates are sealed until its blind reviews are in (``blind``). An urgent
search of the same file is refused by its bytes (``services.search.refuse_if_under_review``);
the same photo re-encoded, resized or cropped, or another photo of the same person, has
other bytes but the same face, and its list would show the sealed candidates first.

So an urgent search also compares its probe's template with the template of every waiting
request's probe, computed as that request's search computes it (its stored bytes, its face,
its edits), and is refused where the evidence model would list that probe's person: a score
at or above the open-set threshold for a gallery of the waiting probes at the workspace's
target FPIR, read from the evidence model's measured records like every search's threshold.
Without an evidence model for the space nothing tells a stranger from that person, so the
urgent search is refused while any request waits (say so, never pass silently).

A waiting probe whose own search could not run (no face, several faces and none chosen) has
no template; only the bytes rule applies to it. Templates are kept per process (a server
computes each waiting probe once); a stored probe's bytes are covered by the audit chain.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from leadguard.evidence import model as evidence_model
from leadguard.face_models.base import FaceModel
from leadguard.quality.provenance import Edit
from leadguard.search.request import SearchRequest
from leadguard.services.casework.blind import Waiting, waiting_requests
from leadguard.services.casework.policy import PolicyRefused
from leadguard.services.context import Context

KEPT = 512  # waiting probes' templates kept per process
_kept: OrderedDict[tuple[object, ...], np.ndarray | None] = OrderedDict()
_lock = threading.Lock()


SEALED_BYTES = (
    "this photo is the probe of a search request whose candidates are sealed until its "
    "search has run and every required review is in: an urgent search of it would show "
    "them first"
)


@dataclass(frozen=True)
class SealedFaces:
    """The waiting probes' templates and the score at which a probe is one of them."""

    templates: list[tuple[int, np.ndarray]]  # (request id, unit template)
    threshold: float | None  # None: no evidence model for the space
    shas: frozenset[str] = frozenset()  # the waiting probes' bytes (SHA-256)

    def check(self, vector: np.ndarray, sha256: str = "") -> None:
        """Raise ``PolicyRefused("sealed_probe")`` where the probe is a waiting one's person,
        or (``sha256``: of the bytes searched) one of their photos."""
        if sha256 and sha256 in self.shas:  # the file may have changed since it was checked
            raise PolicyRefused("sealed_probe", SEALED_BYTES)
        if not self.templates:
            return
        if self.threshold is None:
            raise PolicyRefused(
                "sealed_probe",
                "search requests have candidates sealed until their blind reviews are in, "
                "and no evidence model for this embedding space can tell whether this photo "
                "shows the person one of them is about; an urgent search waits for those "
                "reviews",
            )
        v = np.asarray(vector, dtype=np.float32)
        if any(float(t @ v) >= self.threshold for _, t in self.templates):
            # neither the request nor the score is named: the refusal may reach a supervisor
            # of another unit, and a printed score would let anyone tune a blend to pass
            raise PolicyRefused(
                "sealed_probe",
                "this photo shows the person of the probe of a search request whose "
                "candidates are sealed until its search has run and every required review is "
                "in (compared by face, at the evidence model's open-set threshold for the "
                "probes awaiting review): an urgent search of it would show them first",
            )


def sealed_faces(
    ctx: Context, s: Session, model: FaceModel, required: Callable[[], int]
) -> SealedFaces:
    """The templates of the probes of every request awaiting its search or its reviews,
    and the threshold they are compared at (``s``: a read session)."""
    waiting = waiting_requests(s, required)
    templates = [(w.request, t) for w in waiting if (t := _template(ctx, model, w)) is not None]
    threshold = None
    if templates:
        stored = evidence_model.latest(ctx.ws, model.space.key)
        if stored is not None:
            target = ctx.settings.target_fpir
            threshold = stored.model.gallery_threshold(target, len(templates)).threshold
    return SealedFaces(templates, threshold, frozenset(w.sha256 for w in waiting if w.sha256))


def _template(ctx: Context, model: FaceModel, w: Waiting) -> np.ndarray | None:
    """The template the waiting request's own search computes, or None where it has none."""
    from leadguard.search.run import prepare

    if w.probe is None:
        return None
    key = (model.space.key, w.probe, w.sha256, w.face, w.edits)
    with _lock:
        if key in _kept:
            _kept.move_to_end(key)
            return _kept[key]
    req = SearchRequest(
        Path(f"request-{w.request}"),
        w.source_type,
        face=w.face,
        edits=tuple(Edit(op, tuple(args)) for op, args in w.edits),
        stored_probe=w.probe,
    )
    ready = prepare(ctx.ws, req, model)
    processed = ready.processed if ready is not None else None
    vector = None if processed is None else np.asarray(processed.template.vector, np.float32)
    with _lock:
        _kept[key] = vector
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return vector
