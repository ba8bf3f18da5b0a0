"""The three evaluation commands: score -> score file -> metrics -> report -> accuracy record."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from leadguard import __version__
from leadguard.audit import log as audit
from leadguard.core.errors import ManifestError
from leadguard.core.types import EmbeddingSpace
from leadguard.evaluation import analysis, protocols, report
from leadguard.evaluation import metrics as m
from leadguard.evaluation.protocols import Pair
from leadguard.evaluation.scores import IDENTIFY_COLUMNS, VERIFY_COLUMNS, write_rows
from leadguard.evaluation.templates import Acquired, compute_templates, dataset_checksum
from leadguard.face_models import model_space
from leadguard.storage.tables import AccuracyRecord
from leadguard.storage.workspace import Workspace

Progress = Callable[[int, int], None]
LIST_LENGTH = 20


@dataclass(frozen=True)
class EvalResult:
    record_id: int
    report_dir: Path
    metrics: dict[str, Any]


def default_out(ws: Workspace, protocol: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return ws.root / "reports" / f"{protocol}-{stamp}"


def provenance(
    space: EmbeddingSpace, protocol: str, dataset: Path, checksum: str, acquired: dict
) -> dict[str, Any]:
    failures: dict[str, int] = {}
    for a in acquired.values():
        if a.vector is None:
            failures[a.error_code] = failures.get(a.error_code, 0) + 1
    return {
        "protocol": protocol,
        "dataset": str(dataset),
        "dataset_checksum": checksum,
        "images": len(acquired),
        "failures_to_acquire": failures,
        "command": shlex.join(["leadguard", *sys.argv[1:]]),
        "software_version": __version__,
        "embedding_space": space.to_dict(),
        "created_at": datetime.now(UTC).isoformat(),
    }


def save_record(
    ws: Workspace, prov: dict[str, Any], metrics: dict[str, Any], out: Path, files: list[Path]
) -> int:
    with ws.session() as s:
        rec = AccuracyRecord(
            space_key=prov["embedding_space"]["key"],
            space=prov["embedding_space"],
            protocol=prov["protocol"],
            dataset=prov["dataset"],
            dataset_checksum=prov["dataset_checksum"],
            command=prov["command"],
            software_version=prov["software_version"],
            metrics=metrics,
            report_dir=str(out),
            score_files=[str(f) for f in files],
        )
        s.add(rec)
        s.flush()
        audit.append(
            s,
            "accuracy_record",
            f"accuracy_record:{rec.id}",
            {"protocol": rec.protocol, "space": rec.space_key, "command": rec.command},
            records=[rec],
        )
        return rec.id


def _score(a: Acquired, b: Acquired) -> tuple[float, str]:
    if a.vector is None or b.vector is None:
        bad = a if a.vector is None else b
        return float("-inf"), f"{bad.error_code}: {bad.error}"
    return float(np.dot(a.vector, b.vector)), ""


def _pair_rows(
    pairs: list[Pair], acq: dict[Path, Acquired], space: str, demo: dict[Path, dict[str, str]]
) -> Iterator[dict[str, Any]]:
    for p in pairs:
        score, failure = _score(acq[p.probe], acq[p.reference])
        row = {
            "probe": str(p.probe),
            "reference": str(p.reference),
            "probe_identity": p.probe_identity,
            "reference_identity": p.reference_identity,
            "mated": int(p.mated),
            "fold": p.fold,
            "kind": p.kind,
            "score": score,
            "failure": failure,
            "space_key": space,
        }
        for side, path in (("probe", p.probe), ("reference", p.reference)):
            for k, v in demo.get(path, {}).items():
                row[f"{side}_{k}"] = v
        yield row


def verify_lfw(
    ws: Workspace, data: Path, out: Path | None = None, progress: Progress | None = None
) -> EvalResult:
    """LFW View 2: 10 folds, threshold on 9, accuracy on the 10th; DET/ROC/EER/FNMR@FMR."""
    space = model_space(ws.settings)
    pairs = protocols.lfw_pairs(data)
    paths = [p.probe for p in pairs] + [p.reference for p in pairs]
    acq = compute_templates(ws, space, paths, progress)
    out = out or default_out(ws, "lfw-pairs")
    out.mkdir(parents=True, exist_ok=True)
    score_file = out / "scores.csv"
    write_rows(score_file, VERIFY_COLUMNS, _pair_rows(pairs, acq, space.key, {}))
    return _finish_verify(
        ws,
        space,
        "lfw-pairs",
        data,
        score_file,
        out,
        acq,
        tenfold=True,
        extra=(data / "protocols" / "pairs.txt").read_bytes(),
    )


def _finish_verify(
    ws: Workspace,
    space: EmbeddingSpace,
    protocol: str,
    data: Path,
    score_file: Path,
    out: Path,
    acq: dict[Path, Acquired],
    tenfold: bool,
    extra: bytes,
    target_fmr: float | None = None,
) -> EvalResult:
    loaded = analysis.load_verify(score_file)
    metrics = analysis.verification_metrics(loaded, tenfold=tenfold)
    gen = loaded["score"][loaded["mated"]]
    imp = loaded["score"][~loaded["mated"] & (loaded["kind"] == "nonmated")]
    plots = report.plot_verification(out, gen, imp)
    if target_fmr is not None and (loaded["probe_group"] != "").any():
        metrics["demographics"] = analysis.demographic_metrics(loaded, target_fmr)
        plots.append(report.plot_groups(out, metrics["demographics"]["groups"]))
    prov = provenance(space, protocol, data, dataset_checksum(acq, extra), acq)
    report.write_report(out, f"LeadGuard evaluation: {protocol}", prov, metrics, plots)
    rid = save_record(ws, prov, metrics, out, [score_file])
    return EvalResult(rid, out, metrics)


def identify_blufr(
    ws: Workspace,
    data: Path,
    out: Path | None = None,
    splits: list[int] | None = None,
    progress: Progress | None = None,
) -> EvalResult:
    """BLUFR open-set identification: CMC and FNIR at FPIR, mean and spread over splits."""
    space = model_space(ws.settings)
    chosen = protocols.blufr_splits(data, splits)
    paths = [p for sp in chosen for p, _ in (*sp.gallery, *sp.probes)]
    acq = compute_templates(ws, space, paths, progress)
    out = out or default_out(ws, "blufr")
    out.mkdir(parents=True, exist_ok=True)
    score_file = out / "candidates.csv.gz"
    write_rows(score_file, IDENTIFY_COLUMNS, _search_rows(chosen, acq, space.key))
    per_split = analysis.load_searches(score_file)
    metrics = analysis.identification_metrics(per_split, LIST_LENGTH)
    curves = [m.cmc(s.mated_rank, LIST_LENGTH) for _, s in sorted(per_split.items())]
    plots = [report.plot_cmc(out, curves)]
    extra = b"".join(
        (data / "protocols" / "blufr" / f"split{sp.number}_{k}.csv").read_bytes()
        for sp in chosen
        for k in ("gallery", "probe")
    )
    prov = provenance(space, "blufr", data, dataset_checksum(acq, extra), acq)
    prov["splits"] = [sp.number for sp in chosen]
    report.write_report(
        out, "LeadGuard evaluation: BLUFR open-set identification", prov, metrics, plots
    )
    rid = save_record(ws, prov, metrics, out, [score_file])
    return EvalResult(rid, out, metrics)


def _search_rows(
    splits: list[protocols.BlufrSplit], acq: dict[Path, Acquired], space: str
) -> Iterator[dict[str, Any]]:
    for sp in splits:
        gal = [(p, i) for p, i in sp.gallery if acq[p].vector is not None]
        vectors = [v for p, _ in gal if (v := acq[p].vector) is not None]
        mat = np.vstack(vectors) if vectors else np.empty((0, 128))
        enrolled = {i for _, i in sp.gallery}
        for probe, ident in sp.probes:
            base = {
                "split": sp.number,
                "probe": str(probe),
                "probe_identity": ident,
                "mated_search": int(ident in enrolled),
                "space_key": space,
            }
            a = acq[probe]
            if a.vector is None or not gal:
                yield {
                    **base,
                    "rank": 0,
                    "score": float("-inf"),
                    "failure": f"{a.error_code}: {a.error}" if a.vector is None else "empty",
                }
                continue
            scores = mat @ a.vector
            top = np.argsort(-scores, kind="stable")[:LIST_LENGTH]
            for rank, j in enumerate(top, start=1):
                yield {
                    **base,
                    "rank": rank,
                    "candidate": str(gal[j][0]),
                    "candidate_identity": gal[j][1],
                    "score": float(scores[j]),
                }


def evaluate_manifest(
    ws: Workspace,
    manifest: Path,
    out: Path | None = None,
    nonmated: int = 20000,
    within_group: int = 5000,
    target_fmr: float = 1e-3,
    seed: int = 0,
    progress: Progress | None = None,
) -> EvalResult:
    """All mated pairs, seeded non-mated pairs (overall and within each group), per-group
    FMR/FNMR at the one threshold where the overall FMR equals ``target_fmr``."""
    space = model_space(ws.settings)
    images = protocols.read_labelled_manifest(manifest, ws.settings.source_roots)
    pairs = protocols.manifest_pairs(images, nonmated, within_group, seed=seed)
    if not pairs:
        raise ManifestError(f"{manifest}: {len(images)} image(s) give no pair to compare")
    demo = {im.path: im.demographics for im in images}
    paths = [im.path for im in images]
    acq = compute_templates(ws, space, paths, progress)
    out = out or default_out(ws, "manifest")
    out.mkdir(parents=True, exist_ok=True)
    score_file = out / "scores.csv.gz"
    write_rows(score_file, VERIFY_COLUMNS, _pair_rows(pairs, acq, space.key, demo))
    extra = manifest.read_bytes() + f"seed={seed}".encode()
    return _finish_verify(
        ws,
        space,
        "manifest",
        manifest,
        score_file,
        out,
        acq,
        tenfold=False,
        extra=extra,
        target_fmr=target_fmr,
    )


def reanalyse(score_file: Path) -> dict[str, Any]:
    """Metrics of a verification score file, without templates or a workspace."""
    loaded = analysis.load_verify(score_file)
    return analysis.verification_metrics(loaded, tenfold=len(set(loaded["fold"])) > 1)
