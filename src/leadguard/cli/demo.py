"""`make demo`: a workspace, a gallery from LFW (or any photo folder), two probe searches.

Probe 1 is a held-out photo of an enrolled person; probe 2 is a person who is not enrolled.
Both are searched exactly as ``leadguard search`` would (open-set: only candidates above the
threshold measured for this gallery size, each with what its score is worth). Probe 2 is
then searched once more in investigation mode, which always returns a full list: every name
on it is the wrong person.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

from rich.console import Console

from leadguard.cli import progress as progress_bars
from leadguard.cli import render
from leadguard.cli.audit_cmds import keyed_message
from leadguard.core.errors import FindingsError, WorkspaceError
from leadguard.gallery.enroll import enroll
from leadguard.gallery.sources import EnrollItem, read_source
from leadguard.services.audit_key import key_new_workspace
from leadguard.services.context import Context
from leadguard.services.search import SearchRequest
from leadguard.services.search import search as one_door
from leadguard.storage.workspace import Workspace

SEED = 20261126
CASEWORK_DIR = "casework"
MAX_IMAGES_PER_SUBJECT = 8
HOW_TO_POINT = (
    "The demo enrolls LFW from ../shared/datasets/lfw when that folder exists. Point it at a "
    "local copy of LFW (the folder holding images/ and manifest.csv, or the images/ folder "
    "itself) or at any folder of <subject>/<image> photos with one of:"
)
POINT_WITH = (
    "make demo DEMO_ARGS='--source /path/to/lfw'",
    "LEADGUARD_GALLERY_SOURCE=/path/to/photos make demo",
)


def plan_demo(
    items: list[EnrollItem], subjects: int, full: bool
) -> tuple[list[EnrollItem], EnrollItem, EnrollItem]:
    """Choose the gallery, a held-out probe of an enrolled person, and a non-enrolled probe."""
    by_subject: dict[str, list[EnrollItem]] = defaultdict(list)
    for item in items:
        by_subject[item.info.external_id].append(item)
    multi = sorted(s for s, imgs in by_subject.items() if len(imgs) >= 2)
    if len(multi) < 2:
        raise WorkspaceError("the demo needs at least two subjects with two or more photos each")
    rng = random.Random(SEED)
    mated_subject, absent_subject = rng.sample(multi, 2)
    mated_probe = by_subject[mated_subject][-1]
    absent_probe = by_subject[absent_subject][0]
    if full:
        chosen = [s for s in by_subject if s != absent_subject]
    else:
        others = [s for s in multi if s not in (mated_subject, absent_subject)]
        singles = sorted(s for s, imgs in by_subject.items() if len(imgs) == 1)
        n_multi = min(len(others), max(subjects // 2, 1) - 1)
        n_single = min(len(singles), subjects - n_multi - 1)
        chosen = [mated_subject, *rng.sample(others, n_multi), *rng.sample(singles, n_single)]
    gallery: list[EnrollItem] = []
    for s in chosen:
        imgs = [i for i in by_subject[s] if i is not mated_probe]
        gallery.extend(imgs if full else imgs[:MAX_IMAGES_PER_SUBJECT])
    return gallery, mated_probe, absent_probe


def write_manifest(path: Path, items: list[EnrollItem]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "subject_id", "sex", "race"])
        for i in items:
            w.writerow(
                [str(i.path.resolve()), i.info.external_id, i.info.sex or "", i.info.race or ""]
            )


def central_face(ctx: Context, path: Path) -> int | None:
    """The index of the face at the image centre when a probe shows several (LFW's
    convention, as for the gallery: SFace's detector also finds faces in the background);
    None for one face, so the search itself decides."""
    from leadguard.core.errors import SeveralFaces
    from leadguard.pipeline.compose import FaceSelection, choose_face
    from leadguard.pipeline.decode import decode_image, read_file

    s = ctx.settings
    data = read_file(path, s.max_image_bytes)
    image = decode_image(data, str(path), s.max_image_pixels)
    found = list(ctx.face_model().detect(image.pixels))
    if len(found) < 2:
        return None
    try:
        return found.index(choose_face(found, image, FaceSelection("central")))
    except SeveralFaces:
        return None


def run_demo(root: Path, console: Console, source: Path | None, full: bool, subjects: int) -> None:
    ws = Workspace.init(root, multiple_faces="central")
    ctx = Context(ws)
    if ctx.has_accounts():
        raise WorkspaceError(
            f"{root} has accounts: the demo's own workspace has none (its casework part runs "
            f"in {root / CASEWORK_DIR}); give the demo a folder of its own"
        )
    keyed = key_new_workspace(ctx)  # as `leadguard init` does: the log keyed from the start
    src = source or ws.settings.resolved_gallery_source()
    if src is None or not src.exists():
        missing = "No gallery source found." if src is None else f"{src} does not exist."
        raise FindingsError(f"{missing} {HOW_TO_POINT}", list(POINT_WITH), "Nothing is downloaded.")
    if src.is_dir() and (src / "images").is_dir() and not (src / "manifest.csv").exists():
        src = src / "images"
    # the demo's manifest (in the workspace) points into the source the operator named:
    # declare that source a root for this run, as an operator would in the settings
    root_dir = (src if src.is_dir() else src.parent).resolve()
    ws = Workspace.open(
        root, multiple_faces="central", source_roots=[*ws.settings.source_roots, root_dir]
    )
    ctx = Context(ws)
    console.rule("LeadGuard demo")
    console.print(f"workspace: {ws.root.resolve()}   gallery source: {src}")
    if keyed is not None:
        keyed_message(console, keyed, restart=False)
    items = read_source(src).items
    gallery, mated_probe, absent_probe = plan_demo(items, subjects, full)
    manifest = ws.root / "demo_gallery.csv"
    write_manifest(manifest, gallery)
    n_subjects = len({i.info.external_id for i in gallery})
    console.print(
        f"enrolling {len(gallery)} photos of {n_subjects} people "
        f"({'the whole source' if full else 'a part; --full enrolls everything'}). Images with "
        "several faces use the face at the image centre (LFW's convention)."
    )
    with progress_bars.enroll_progress(console) as progress:
        report = enroll(ws, manifest, progress=progress)
    render.enroll_report(console, report)

    probes = (
        (
            "Probe 1: someone who IS enrolled (this photo was held back)",
            mated_probe,
        ),
        (
            "Probe 2: someone who is NOT enrolled: every name below is the wrong person",
            absent_probe,
        ),
    )
    for title, probe in probes:
        console.rule(title)
        console.print(f"(person in the photo: {probe.info.external_id})")
        request = SearchRequest(probe.path, "other", face=central_face(ctx, probe.path))
        render.candidate_list(console, one_door(ctx, None, request))
    console.rule("Probe 2 again, in investigation mode (a fixed-length list, no threshold)")
    face = central_face(ctx, absent_probe.path)
    render.candidate_list(
        console,
        one_door(ctx, None, SearchRequest(absent_probe.path, "other", face=face, investigation=5)),
    )
    console.rule()
    console.print(
        "The investigation list is full of names and none of them is the person in the photo: "
        "a fixed-length list always returns the most similar enrolled people, whether or not "
        "the person sought is enrolled. The open-set search above answers that honestly, and "
        "even a candidate above its threshold is only a lead: examination and independent "
        "evidence must tell a lead from a look-alike.",
        soft_wrap=True,
    )
    from leadguard.cli.demo_casework import walk

    face = central_face(ctx, mated_probe.path)
    walk(casework_copy(ws), console, mated_probe.path, mated_probe.info.external_id, face)


def casework_copy(ws: Workspace) -> Context:
    """A fresh copy of the demo workspace for the casework walk: once a workspace has
    accounts, nothing runs there without a login, and the demo stays re-runnable."""
    import shutil

    target = ws.root / CASEWORK_DIR
    shutil.rmtree(target, ignore_errors=True)
    ws.close()  # the database file is complete on disk
    shutil.copytree(ws.root, target, ignore=shutil.ignore_patterns(CASEWORK_DIR, "*.csv"))
    return Context(Workspace.open(target))
