"""The one door to a face search. In a workspace with accounts a search runs only from an
approved request (``casework.service.run_search``) or as a supervisor's urgent override: tied
to a case, with a written reason, flagged for review afterwards. A workspace with no accounts
(evaluation, demo) says on every search that it is unprotected; ``allow_unprotected = false``
forbids that mode."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.core.types import CandidateList
from leadguard.quality.provenance import Edit
from leadguard.services.authz import NotAllowed
from leadguard.services.context import Actor, Context, current_user, refusals

UNPROTECTED = (
    "UNPROTECTED WORKSPACE: it has no accounts, so this search was not authorised, approved or "
    "reviewed; use such a workspace for evaluation and demonstration only"
)


@dataclass(frozen=True)
class SearchOptions:
    source_type: str
    top_k: int | None = None
    face: int | None = None
    investigation: int | None = None
    incident_date: date | None = None
    edits: tuple[Edit, ...] = ()
    probe_sex: str | None = None  # the probe person's recorded groups, when known
    probe_race: str | None = None
    probe_name: str | None = None  # recorded and shown (an upload's name, not its copy's path)


@dataclass(frozen=True)
class Override:
    """A supervisor's urgent search outside a request: audited and flagged for review."""

    case: str
    reason: str


def search(
    ctx: Context,
    actor: Actor | None,
    probe: Path,
    options: SearchOptions,
    override: Override | None = None,
) -> CandidateList:
    from leadguard.services.casework.service import case_by_number, check_case

    protected = ctx.has_accounts()
    obj = f"case:{override.case}" if override else f"probe:{probe.name}"
    with refusals(ctx, actor, "search", obj):
        if not protected:
            if not ctx.settings.allow_unprotected:
                raise NotAllowed(
                    "this workspace has no accounts and allow_unprotected is false: create "
                    "accounts (`leadguard user add`) and search from approved requests"
                )
        elif override is None or actor is None:
            raise NotAllowed(
                "in a workspace with accounts a search runs only from an approved request "
                "(`leadguard request run`), or as a supervisor's urgent override "
                "(`leadguard search --urgent --case N --reason TEXT` after `leadguard login`)"
            )
        else:
            if not override.reason.strip():
                raise InputError("an urgent override needs its written reason (--reason)")
            with ctx.session() as s:
                case = case_by_number(s, override.case)
                check_case(s, current_user(s, actor), "search.override", case)
        result = _run(ctx, actor, probe, options)
        if not protected:
            return replace(result, notices=(UNPROTECTED, *result.notices))
        assert override is not None and actor is not None
        with ctx.session() as s:
            audit.append(
                s,
                "search.override",
                f"case:{override.case}/search:{result.search_id}",
                {
                    "reason": override.reason,
                    "search": result.search_id,
                    "probe_sha256": result.probe_sha256,
                    "flagged_for_review": True,
                },
                actor=actor.username,
            )
        return replace(
            result,
            notices=(
                f"URGENT OVERRIDE by {actor.username} on case {override.case}: flagged for "
                "supervisory review",
                *result.notices,
            ),
        )


def _run(ctx: Context, actor: Actor | None, probe: Path, o: SearchOptions) -> CandidateList:
    from leadguard.search.run import search as run_search

    def go() -> CandidateList:
        return run_search(
            ctx.ws,
            probe,
            top_k=o.top_k,
            face=o.face,
            investigation=o.investigation,
            incident_date=o.incident_date,
            source_type=o.source_type,
            edits=o.edits,
            probe_sex=o.probe_sex,
            probe_race=o.probe_race,
            probe_name=o.probe_name,
        )

    if actor is None:  # a failed search logs itself (search-log row, audit entry)
        return go()
    with audit.acting_as(actor.username):
        return go()
