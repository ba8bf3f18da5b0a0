"""The evidence model of one embedding space: what its scores are worth, as measured.

It holds the calibration set's non-mated score histogram (overall and within each
demographic group), the per-probe tails used for open-set thresholds, and the likelihood
ratio table, with the provenance needed to quote it. It is stored in the workspace database
(``evidence_models``); LeadGuard also ships the model it measured on LFW, which a workspace
takes up when it has none of its own for the space in use.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.evidence.calibration import LrTable
from leadguard.evidence.chance import (
    FmrAtScore,
    GalleryThreshold,
    fmr_at_score,
    p_at_least_one,
    threshold_for_gallery,
)
from leadguard.evidence.distribution import BINS, ProbeTails, ScoreHistogram
from leadguard.evidence.groups import (
    MIN_GROUP_COMPARISONS,
    GroupStanding,
    group_threshold,
    standing,
)
from leadguard.evidence.groups import worst_group as _worst_group
from leadguard.storage.tables import EvidenceModelRecord
from leadguard.storage.workspace import Workspace

THRESHOLDS_HELD = 256  # gallery_threshold answers kept per model (several sizes and targets)
FORMAT = 1  # later fields (group_lr, group_people, domain) live in meta and are optional


@dataclass(frozen=True)
class EvidenceModel:
    space_key: str
    nonmated: ScoreHistogram
    groups: dict[str, ScoreHistogram]
    tails: ProbeTails
    lr: LrTable
    meta: dict[str, Any] = field(default_factory=dict)  # provenance, partition, validation
    # gallery_threshold's answers: a pure function of the model, asked on every search
    _thresholds: dict[tuple[float, int, bool], GalleryThreshold] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def design_effect(self, score: float, group: str | None = None) -> float:
        """Measured design effect at this score, overall or within a group (nearest
        measured level beyond the ends; the group's fallback where none was measurable)."""
        if group is None:
            d = self.meta.get("design_effect") or {}
        else:
            d = (self.meta.get("group_design_effects") or {}).get(group) or {}
        ts, fx = d.get("thresholds") or [], d.get("effects") or []
        if not ts:
            return float(d.get("fallback", 1.0))
        return float(np.interp(score, ts, fx))

    def fmr(self, score: float) -> FmrAtScore:
        return fmr_at_score(self.nonmated, score, self.design_effect(score))

    def gallery_threshold(
        self, target_fpir: float, gallery_size: int, worst_group: bool = False
    ) -> GalleryThreshold:
        """The open-set threshold for this gallery size; with ``worst_group`` raised until
        every adequately measured group's FMR is no higher than the average's was."""
        key = (float(target_fpir), int(gallery_size), bool(worst_group))
        held = self._thresholds.get(key)
        if held is None:
            held = self._gallery_threshold(target_fpir, gallery_size, worst_group)
            if len(self._thresholds) >= THRESHOLDS_HELD:
                self._thresholds.clear()
            self._thresholds[key] = held
        return held

    def _gallery_threshold(
        self, target_fpir: float, gallery_size: int, worst_group: bool
    ) -> GalleryThreshold:
        g = threshold_for_gallery(self.tails, self.nonmated, target_fpir, gallery_size)
        if worst_group:
            t, binding = group_threshold(self, g.threshold)
            if binding is not None:
                predicted = (
                    self.tails.fpir(t, gallery_size)
                    if g.method == "per-probe"
                    else p_at_least_one(
                        self.nonmated.at_least(t) / self.nonmated.comparisons, gallery_size
                    )
                )
                g = replace(
                    g,
                    threshold=t,
                    predicted_fpir=predicted,
                    binding_group=binding,
                    base_threshold=g.threshold,
                )
        return replace(g, fmr=self.fmr(g.threshold))

    def measured_groups(self) -> dict[str, ScoreHistogram]:
        return {g: h for g, h in self.groups.items() if h.comparisons >= MIN_GROUP_COMPARISONS}

    def group_standing(self, group: str, score: float) -> GroupStanding:
        return standing(self, group, score)

    def worst_group(self, score: float) -> GroupStanding | None:
        """The adequately measured group whose FMR at this score may be highest (by the
        95 % upper bound, so a thinly measured group cannot hide behind a zero count)."""
        return _worst_group(self, score)

    @property
    def domain(self) -> str:
        """What the model was measured on: "lfw" (shipped), "gallery:<workspace>", ..."""
        return str(self.meta.get("domain") or "lfw")

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {}
        for name, hist in {"all": self.nonmated, **self.groups}.items():
            nz = np.flatnonzero(hist.counts)
            arrays[f"h:{name}:idx"] = nz.astype(np.int32)
            arrays[f"h:{name}:n"] = hist.counts[nz]
        arrays["t:comparisons"] = self.tails.comparisons
        arrays["t:offsets"] = self.tails.offsets
        arrays["t:scores"] = self.tails.scores
        arrays["t:people"] = self.tails.people
        for k in ("grid", "llr", "low", "high"):
            arrays[f"lr:{k}"] = getattr(self.lr, k)
        meta = {
            "format": FORMAT,
            "space_key": self.space_key,
            "groups": sorted(self.groups),
            "tails_floor": self.tails.floor,
            "lr": {
                "bounds": list(self.lr.bounds),
                "mated_pairs": self.lr.mated_pairs,
                "nonmated_pairs": self.lr.nonmated_pairs,
                "bootstraps": self.lr.bootstraps,
            },
            **self.meta,
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> EvidenceModel:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            if meta.get("format") != FORMAT:
                raise ValueError(f"evidence model format {meta.get('format')} is not {FORMAT}")

            def hist(name: str) -> ScoreHistogram:
                counts = np.zeros(BINS, dtype=np.int64)
                counts[z[f"h:{name}:idx"]] = z[f"h:{name}:n"]
                return ScoreHistogram(counts)

            tails = ProbeTails(
                float(meta["tails_floor"]),
                z["t:comparisons"],
                z["t:offsets"],
                z["t:scores"],
                z["t:people"],
            )
            lrm = meta["lr"]
            lr = LrTable(
                z["lr:grid"],
                z["lr:llr"],
                z["lr:low"],
                z["lr:high"],
                (float(lrm["bounds"][0]), float(lrm["bounds"][1])),
                int(lrm["mated_pairs"]),
                int(lrm["nonmated_pairs"]),
                int(lrm["bootstraps"]),
            )
            groups = {g: hist(g) for g in meta["groups"]}
            return cls(meta["space_key"], hist("all"), groups, tails, lr, meta)


@dataclass(frozen=True)
class StoredModel:
    id: int | None  # None: the shipped model, not yet taken up by this workspace
    source: str
    sha256: str
    model: EvidenceModel

    def describe(self) -> dict[str, Any]:
        """What a candidate list says about the model behind its statements."""
        meta = self.model.meta
        prov = meta.get("provenance", {})
        return {
            "id": self.id,
            "source": self.source,
            "payload_sha256": self.sha256,
            "measured_on": prov.get("dataset"),
            "domain": self.model.domain,
            "measured_at": prov.get("created_at"),
            "command": prov.get("command"),
            "calibration": meta.get("calibration"),
        }


def store(
    ws: Workspace, payload: bytes, model: EvidenceModel, source: str, record_id: int | None
) -> StoredModel:
    sha = hashlib.sha256(payload).hexdigest()
    with ws.session() as s:
        rec = EvidenceModelRecord(
            space_key=model.space_key,
            record_id=record_id,
            source=source,
            payload=payload,
            payload_sha256=sha,
        )
        s.add(rec)
        s.flush()
        details = {"source": source, "payload_sha256": sha, "record": record_id}
        audit.append(s, "evidence_model_stored", f"evidence_model:{rec.id}", details, records=[rec])
        return StoredModel(rec.id, source, sha, model)


# Decoded models by the SHA-256 of their payload: each is decoded once per process, and a
# search that finds its model here does not read the payload (about 0.5 MB) at all.
_DECODED: dict[str, EvidenceModel] = {}
_DECODED_MAX = 4
_DECODING = threading.Lock()  # the server's compute threads share the cache


def _decoded(sha256: str, payload: Callable[[], bytes]) -> EvidenceModel:
    with _DECODING:
        held = _DECODED.get(sha256)
        if held is None:
            held = EvidenceModel.from_bytes(payload())
            while len(_DECODED) >= _DECODED_MAX:
                _DECODED.pop(next(iter(_DECODED)))
            _DECODED[sha256] = held
        return held


@lru_cache(maxsize=8)
def _shipped(space_key: str) -> tuple[bytes, str] | None:
    f = resources.files("leadguard.evidence").joinpath("data", f"{space_key}.npz")
    if not f.is_file():
        return None
    data = f.read_bytes()
    return data, hashlib.sha256(data).hexdigest()


def shipped_payload(space_key: str) -> bytes | None:
    """The model LeadGuard ships for this space, if it ships one (read once per process)."""
    found = _shipped(space_key)
    return found[0] if found else None


def latest(ws: Workspace, space_key: str) -> StoredModel | None:
    """The newest evidence model for this space, else the shipped one (a read: it writes
    nothing; ``adopt_shipped`` stores the shipped model, at enrollment)."""
    with ws.session() as s:
        row = s.execute(
            select(
                EvidenceModelRecord.id,
                EvidenceModelRecord.source,
                EvidenceModelRecord.payload_sha256,
            )
            .where(EvidenceModelRecord.space_key == space_key)
            .order_by(EvidenceModelRecord.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            rid, source, sha = int(row[0]), str(row[1]), str(row[2])

            def stored_payload() -> bytes:
                return bytes(
                    s.scalars(
                        select(EvidenceModelRecord.payload).where(EvidenceModelRecord.id == rid)
                    ).one()
                )

            return StoredModel(rid, source, sha, _decoded(sha, stored_payload))
    found = _shipped(space_key)
    if found is None:
        return None
    data, sha = found
    return StoredModel(None, "shipped", sha, _decoded(sha, lambda: data))


def take_up(s: Session, stored: StoredModel) -> StoredModel:
    """The shipped model stored in the caller's transaction (audited), so that a search
    that uses it names it by id in its record; a stored model is returned as it is."""
    if stored.id is not None:
        return stored
    payload = shipped_payload(stored.model.space_key) or b""
    if hashlib.sha256(payload).hexdigest() != stored.sha256:
        return stored  # not the file this LeadGuard ships: nothing to store
    rec = EvidenceModelRecord(
        space_key=stored.model.space_key,
        record_id=None,
        source="shipped",
        payload=payload,
        payload_sha256=stored.sha256,
    )
    s.add(rec)
    s.flush()
    details = {"source": "shipped", "payload_sha256": stored.sha256, "record": None}
    audit.append(s, "evidence_model_stored", f"evidence_model:{rec.id}", details, records=[rec])
    return StoredModel(rec.id, "shipped", stored.sha256, stored.model)


def adopt_shipped(ws: Workspace, space_key: str) -> StoredModel | None:
    """Store the shipped model for this space if the workspace has none (a write)."""
    current = latest(ws, space_key)
    if current is None or current.id is not None:
        return current
    return store(ws, shipped_payload(space_key) or b"", current.model, "shipped", None)
