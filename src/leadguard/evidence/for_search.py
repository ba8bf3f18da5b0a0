"""The evidence a search attaches to its list, in two calls: the open-set threshold for the
gallery searched, and the statements for every listed candidate.

Both take account of (a) the worst adequately measured demographic group (the
``worst_group_threshold`` setting) and (b) the gallery's own non-mated tail, when one has been
kept (``evidence.shift``): where the gallery's strangers score higher than the evidence model
allows, the statements say they are not validated for this gallery and the threshold follows
the more conservative tail.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

from leadguard.evidence.chance import GalleryThreshold
from leadguard.evidence.duplicates import StrangerFigures
from leadguard.evidence.gallery_figures import candidate_lines, gallery_figures, gallery_shift
from leadguard.evidence.groups import subject_groups
from leadguard.evidence.model import StoredModel
from leadguard.evidence.shift import ALL, ShiftCheck
from leadguard.evidence.statements import CandidateEvidence, candidate_evidence, list_context
from leadguard.evidence.tail import OpenSetDecision
from leadguard.storage.workspace import Workspace

if TYPE_CHECKING:
    from leadguard.storage.queries import TemplateInfo


def search_threshold(
    ws: Workspace,
    stored: StoredModel,
    gallery_templates: int,
    table: tuple[int, ...] | None = None,
    figures: StrangerFigures | None = None,
) -> tuple[GalleryThreshold, ShiftCheck | None]:
    """The open-set threshold: the model's for this gallery size (raised for the worst
    group when the setting is on), then raised again to where the gallery's own tail allows
    the same false match rate, if that tail is heavier. ``table``: the gallery generation
    just read (the tail is then kept resident, as the index is); ``figures``: the gallery's
    figures, where the caller has just read them for that generation."""
    settings = ws.settings
    t = stored.model.gallery_threshold(
        settings.target_fpir, gallery_templates, settings.worst_group_threshold
    )
    if figures is None:
        figures = gallery_figures(ws, stored.model.space_key, table)
    shift = gallery_shift(stored.model, figures, t.threshold)
    if shift is not None and shift.shifted and shift.threshold > t.threshold:
        t = replace(
            t,
            threshold=shift.threshold,
            shift_from=t.threshold,
            shift_group="all groups" if shift.group == ALL else shift.group,
            fmr=stored.model.fmr(shift.threshold),
        )
    return t, shift


def list_evidence(
    stored: StoredModel,
    ranked: list[tuple[float, TemplateInfo]],
    threshold: GalleryThreshold | None,
    gallery_subjects: int,
    gallery_templates: int,
    latest_dates: dict[str, date],
    incident: date | None,
    probe_sex: str | None = None,
    probe_race: str | None = None,
    shift: ShiftCheck | None = None,
    open_set: OpenSetDecision | None = None,
    figures: StrangerFigures | None = None,
) -> list[CandidateEvidence]:
    """One statement set per candidate, all naming the same worst group: the evidence
    model's at the listing score, which the list's gallery line names too."""
    at = threshold.threshold if threshold else None
    if open_set is not None and open_set.listing_threshold is not None:
        at = open_set.listing_threshold  # the score the list starts from names its worst group
    ctx = list_context(
        stored.model,
        [score for score, _ in ranked],
        at,
        subject_groups(probe_sex, probe_race),
        gallery_subjects,
        shift.statement() if shift is not None and shift.shifted else None,
    )
    out = [
        candidate_evidence(
            stored.model,
            score,
            gallery_templates,
            info.encounter_date,
            latest_dates.get(info.subject),
            incident,
            ctx,
            subject_groups(info.sex, info.race),
            open_set,
            rank,
        )
        for rank, (score, info) in enumerate(ranked, start=1)
    ]
    if figures is None:
        return out
    return [
        replace(ev, gallery_lines=tuple(candidate_lines(figures, score, groups)))
        for ev, (score, info) in zip(out, ranked, strict=True)
        if (groups := subject_groups(info.sex, info.race)) is not None
    ]
