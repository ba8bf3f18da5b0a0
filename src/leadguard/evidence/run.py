"""``leadguard eval evidence``: fit the evidence model on half of a labelled dataset's people,
validate it on the other half, and store model, report and accuracy record."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from leadguard.core.errors import InputError, ManifestError
from leadguard.evaluation import protocols, report
from leadguard.evaluation.run import EvalResult, Progress, default_out, provenance, save_record
from leadguard.evaluation.templates import Acquired, compute_templates, dataset_checksum
from leadguard.evidence import model as em
from leadguard.evidence import plots, validate
from leadguard.evidence.fit import Labelled, check_disjoint, fit_model, split_by_identity
from leadguard.evidence.group_validation import group_validation
from leadguard.evidence.groups import subject_groups
from leadguard.face_models import model_space
from leadguard.storage import queries as repo
from leadguard.storage.workspace import Workspace

MODEL_FILE = "evidence-model.npz"
MIN_MATED_IDENTITIES = 4  # two to calibrate on, two to validate on, at the very least


def _stack(acq: dict[Path, Acquired], paths: list[Path]) -> np.ndarray:
    return np.vstack([v for p in paths if (v := acq[p].vector) is not None]).astype(np.float32)


def image_groups(demo: dict[str, str]) -> tuple[str, ...]:
    """Groups an image is compared within: its sex, and its sex/race where both are known."""
    return subject_groups(demo.get("sex"), demo.get("race"))


def _labelled(
    images: list[protocols.LabelledImage], acq: dict[Path, Acquired]
) -> tuple[Labelled, list[Path]]:
    kept = [im for im in images if acq[im.path].vector is not None]
    vectors = _stack(acq, [im.path for im in kept])
    data = Labelled(
        vectors,
        np.array([im.identity for im in kept]),
        [image_groups(im.demographics) for im in kept],
    )
    return data, [im.path for im in kept]


def _blufr_held_out(
    data: Path, held_out_ids: set[str], acq: dict[Path, Acquired]
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each BLUFR split's gallery and non-enrolled probes, restricted to held-out people."""
    out = []
    for sp in protocols.blufr_splits(data):
        gal = [(p, i) for p, i in sp.gallery if i in held_out_ids and acq[p].vector is not None]
        enrolled = {i for _, i in sp.gallery}
        probes = [
            (p, i)
            for p, i in sp.probes
            if i in held_out_ids and i not in enrolled and p in acq and acq[p].vector is not None
        ]
        out.append(
            (
                _stack(acq, [p for p, _ in gal]),
                _stack(acq, [p for p, _ in probes]),
                np.array([i for _, i in probes]),
            )
        )
    return out


def evaluate_evidence(
    ws: Workspace,
    manifest: Path,
    blufr: Path | None = None,
    out: Path | None = None,
    seed: int = 0,
    bootstraps: int = 200,
    repeats: int = validate.REPEATS,
    progress: Progress | None = None,
) -> EvalResult:
    space = model_space(ws.settings)
    images = protocols.read_labelled_manifest(manifest, ws.settings.source_roots)
    per_identity = Counter(im.identity for im in images)
    mated = sum(1 for n in per_identity.values() if n >= 2)
    if mated < MIN_MATED_IDENTITIES:
        raise ManifestError(
            f"{manifest}: {len(images)} image(s), {mated} identities with two or more photos; "
            f"fitting an evidence model needs at least {MIN_MATED_IDENTITIES} such identities "
            "(half calibrate, half validate)"
        )
    paths = [im.path for im in images]
    if blufr is not None:
        paths += [p for sp in protocols.blufr_splits(blufr) for p, _ in (*sp.gallery, *sp.probes)]
    acq = compute_templates(ws, space, paths, progress)
    data, _ = _labelled(images, acq)
    extra = manifest.read_bytes() + f"seed={seed}".encode()
    prov = provenance(space, "evidence", manifest, dataset_checksum(acq, extra), acq)
    blufr_sets = None
    if blufr is not None:
        held = set(split_by_identity(data, seed)[1].identities.tolist())
        blufr_sets = _blufr_held_out(blufr, held, acq)
    domain = fitted_domain(manifest, blufr)
    return fit_and_validate(ws, data, prov, domain, out, seed, bootstraps, repeats, blufr_sets)


def fitted_domain(manifest: Path, blufr: Path | None) -> str:
    """The domain a model fitted on this manifest records: ``lfw`` for LFW (a BLUFR folder
    given, or a manifest under a folder named lfw), else the manifest it was fitted on."""
    parts = [p.lower() for p in manifest.resolve().parts]
    if blufr is not None or any(p == "lfw" or p.startswith("lfw") for p in parts[:-1]):
        return "lfw"
    return f"manifest:{manifest.parent.name}/{manifest.name}"


def fit_and_validate(
    ws: Workspace,
    data: Labelled,
    prov: dict[str, Any],
    domain: str,
    out: Path | None,
    seed: int,
    bootstraps: int,
    repeats: int,
    blufr_sets: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
) -> EvalResult:
    """Fit on the calibration half of the people, validate on the held-out half, store."""
    space_key = prov["embedding_space"]["key"]
    calibration, held_out = split_by_identity(data, seed)
    check_disjoint(calibration, held_out)
    try:
        model = fit_model(space_key, calibration, seed, bootstraps, domain=domain)
    except (ValueError, IndexError) as exc:  # too few usable templates after failures
        raise ManifestError(
            f"{prov.get('dataset', domain)}: the usable templates are too few to fit an "
            f"evidence model ({exc})"
        ) from exc

    lr_check = validate.lr_check(model, calibration, held_out, seed)
    held_ids = set(held_out.identities.tolist())
    sizes = validate.gallery_sizes(len(held_ids))
    fpir_rows = [
        {**r, "source": "own draws"}
        for r in validate.fpir_by_gallery_size(model, held_out, sizes, repeats=repeats, seed=seed)
    ]
    if blufr_sets is not None:
        fpir_rows += [{**r, "source": "BLUFR"} for r in validate.blufr_fpir(model, blufr_sets)]
    counts = validate.counts_by_gallery_size(
        model, held_out, sizes=sizes, repeats=repeats, seed=seed
    )
    group_sizes = {g: h.comparisons for g, h in sorted(model.groups.items())}
    metrics: dict[str, Any] = {
        "domain": domain,
        "calibration": model.meta["calibration"],
        "held_out": {
            "images": len(held_out.vectors),
            "identities": len(held_ids),
        },
        "likelihood_ratio": {**lr_check.summary(), "elub_bounds": list(model.lr.bounds)},
        "fpir": fpir_rows,
        "chance_candidates": counts,
        "groups_within_group_nonmated_pairs": group_sizes,
        "groups": group_validation(model, held_out, list(sizes), seed),
    }
    out = out or default_out(ws, "evidence")
    out.mkdir(parents=True, exist_ok=True)
    figs = [
        plots.plot_lr(out, model.lr),
        plots.plot_ece(out, lr_check),
        plots.plot_fpir(out, fpir_rows),
        plots.plot_counts(out, counts),
    ]
    model = replace(model, meta={**model.meta, "provenance": prov, "validation": metrics})
    payload = model.to_bytes()
    (out / MODEL_FILE).write_bytes(payload)
    report.write_report(out, "LeadGuard evidence model: fit and validation", prov, metrics, figs)
    rid = save_record(ws, prov, metrics, out, [out / MODEL_FILE])
    em.store(ws, payload, model, "measured", rid)
    return EvalResult(rid, out, metrics)


def evaluate_gallery(
    ws: Workspace,
    out: Path | None = None,
    seed: int = 0,
    bootstraps: int = 200,
    repeats: int = validate.REPEATS,
) -> EvalResult:
    """Fit the evidence model from the workspace's own enrolled faces: subjects with two or
    more images give mated pairs, different subjects non-mated pairs, within each recorded
    sex/race group; subjects are split by the seeded hash for validation."""
    space = model_space(ws.settings)
    with ws.session() as s:
        t = repo.labelled_templates(s, space.key)
    if len(t.ids) < 4:
        raise InputError(
            f"the gallery holds {len(t.ids)} templates in space {space.key}: too few to fit an "
            "evidence model (enroll the agency's gallery first)"
        )
    data = Labelled(
        t.vectors.astype(np.float32),
        np.array(t.subjects),
        [subject_groups(sx, rc) for sx, rc in zip(t.sex, t.race, strict=True)],
    )
    per_subject = np.unique(data.identities, return_counts=True)[1]
    if not (per_subject >= 2).any():
        raise InputError(
            "no enrolled subject has two or more images, so no mated pair can be measured: "
            "the gallery cannot calibrate likelihood ratios"
        )
    domain = f"gallery:{workspace_id(ws)}"
    digest = hashlib.sha256(t.ids.tobytes() + f"seed={seed}".encode()).hexdigest()
    prov = provenance(space, "evidence", ws.root, digest, {})
    prov.update({"dataset": domain, "images": len(t.ids)})
    return fit_and_validate(ws, data, prov, domain, out, seed, bootstraps, repeats)


def workspace_id(ws: Workspace) -> str:
    """A stable short id of the workspace (its resolved location)."""
    return hashlib.sha256(str(ws.root.resolve()).encode()).hexdigest()[:12]
