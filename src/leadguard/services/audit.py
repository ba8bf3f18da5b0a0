"""Audit reads: chain verification and disclosure exports (the export is itself audited)."""

from __future__ import annotations

import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Text, cast, or_, select
from sqlalchemy.orm import Session

from leadguard.audit import anchor as anchors
from leadguard.audit import keyed
from leadguard.audit import log as audit
from leadguard.audit.head import read_first
from leadguard.audit.log import ChainCheck
from leadguard.core import textsafe
from leadguard.core.config import load_settings
from leadguard.core.errors import InputError, LeadGuardError
from leadguard.gallery import index_files
from leadguard.services import settings_record
from leadguard.services.authz import NotAllowed
from leadguard.services.casework.service import check_case, is_assigned, policy
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.services.gallery import operator_check
from leadguard.storage.tables import AuditEntry, Case, ProbeRecord, SearchLog, SearchRequest, User


@dataclass(frozen=True)
class Verification:
    check: ChainCheck
    head: str | None
    anchors: list[anchors.AnchorCheck] = field(default_factory=list)
    index_problems: list[str] = field(default_factory=list)  # files unlike recorded digests
    # safeguards in the settings file unlike those the log records (settings_record)
    settings_problems: list[str] = field(default_factory=list)
    # schema downgrades on record: the migrations after each adopted rows as they stood
    schema_problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return (
            self.check.intact
            and all(a.ok for a in self.anchors)
            and not self.index_problems
            and not self.settings_problems
            and not self.schema_problems
        )


def verify(
    ctx: Context,
    actor: Actor | None,
    anchor_files: list[Path] | None = None,
    public_key: Path | None = None,
    mac_key: Path | None = None,
) -> Verification:
    """A read: checks the chain (with the authentication codes of a keyed log, under
    ``mac_key`` or else the workspace's audit key), the working records its entries name,
    the index files against the digests recorded for the configured backend, and the log
    against each signed anchor (a forged anchor is refused before anything is read). Writes
    nothing (a refusal of the actor is recorded)."""
    pub = anchors.load_public_key(public_key) if public_key else None
    loaded = [anchors.load(p, pub) for p in anchor_files or []]
    key = keyed.load_key(mac_key, ctx.root) if mac_key is not None else None
    operator_check(ctx, actor, "audit.read", "audit")
    own = key if key is not None else ctx.ws.audit_key()
    receipt = read_first(own, ctx.root)  # before the database is read: audit.head
    with ctx.session() as s:
        check, results = anchors.verify(s, loaded, key, receipt)
        head = s.scalar(select(AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1))
        settings = settings_record.problems(s, load_settings(ctx.root), ctx.root)
        schema = _downgrades(s)
    # The index files under the workspace's write lock, as they are saved: read while a
    # removal or an enrollment was saving them, they differed from their last recorded
    # digests (a false alarm a red-team pass saw, 2026-12-07). A read session: no database
    # writer lock is asked for while the workspace's is held, so nothing can wait on both.
    backend = ctx.ws.settings.index_backend
    with ctx.ws.write_lock(), ctx.ws.read_session() as s:
        problems = [
            p
            for key in index_files.recorded_spaces(s, backend)
            for p in index_files.check(s, key, backend, ctx.ws.index_path(key))
        ]
    return Verification(check, head, results, problems, settings + _policy_problems(ctx), schema)


def _downgrades(s: Session) -> list[str]:
    """Each schema downgrade on record, and each move of the revision that no entry records
    (an entry starting from another revision than the one before it left). A downgrade is
    allowed (an operator's rollback), but the upgrade after it re-runs migrations whose
    baselines adopt the rows as they then stand, so an edit made while the schema was down
    is adopted, not caught: an auditor must look there."""
    from leadguard.storage.migrations.schema_record import ACTION, DOWN

    moves = select(AuditEntry).where(AuditEntry.action.in_([ACTION, DOWN]))
    out = []
    last: tuple[int, Any] | None = None  # the entry and revision the chain recorded last
    for e in s.scalars(moves.order_by(AuditEntry.seq)):
        d = e.details if isinstance(e.details, dict) else {}
        if last is not None and d.get("from") != last[1]:
            # the revision moved with no entry: set back by hand, the migrations re-run
            out.append(
                f"audit entry {e.seq} ({e.at}) records a schema change from revision "
                f"{d.get('from')}, but entry {last[0]} left it at {last[1]}: the revision "
                "was changed outside LeadGuard in between, and the migrations run then "
                "adopted the rows as they stood; compare the database with a backup taken "
                f"before entry {e.seq}"
            )
        last = (e.seq, d.get("to"))
        if e.action == DOWN:
            out.append(
                f"audit entry {e.seq} ({e.at}) records a schema downgrade from revision "
                f"{d.get('from')} to {d.get('to')}: the migrations run after it adopted the rows"
                " as they then stood, so an edit made while the schema was down is not caught;"
                f" compare the database with a backup taken before entry {e.seq}"
            )
    return out


def _policy_problems(ctx: Context) -> list[str]:
    """The casework policy file in force, unless it is the one last adopted (casework
    actions refuse it; ``verify`` names it too, where an auditor looks)."""
    try:
        policy(ctx, observe=False)
    except LeadGuardError as exc:  # not adopted (edited in place, re-pointed), unreadable
        return [str(exc)]
    return []


def anchor(ctx: Context, actor: Actor | None, key: Path, out: Path) -> dict[str, Any]:
    """Write a signed receipt of the log's head to ``out`` (outside the workspace)."""
    operator_check(ctx, actor, "audit.read", "audit")
    with ctx.session() as s:
        signed = anchors.make(s, key, ctx.root)
    anchors.write(signed, out, ctx.root)
    return signed


def trail(
    ctx: Context, actor: Actor | None, number: str | None, prefix: str = ""
) -> list[dict[str, Any]]:
    """Audit entries for disclosure: a case's whole trail (its own entries, refusals
    included, and those of the searches and probes its requests ran; selected exactly by
    number), or the entries of one object and its parts (``audit.object_clause``: ``prefix``
    ``subject:A`` never selects ``subject:AB``; ``subject:`` selects the kind), as far as the
    reader may see them: auditors every case; a supervisor the cases of their unit (and their
    unit's users' entries tied to no case); a case without a record (refused at opening) only
    auditors. Entries under blind review are sealed for everyone (``casework.blind``). The
    export itself is audited."""
    obj = f"case:{number}" if number else "audit"
    operator_check(ctx, actor, "audit.read", obj)
    required = policy(ctx, observe=False).examiners_required
    with refusals(ctx, actor, "audit.read", obj), ctx.session() as s:
        reader = current_user(s, actor) if actor is not None and ctx.has_accounts() else None
        if reader is not None and number is not None:
            case = s.scalars(select(Case).where(Case.number == number)).first()
            if case is not None:
                check_case(s, reader, "audit.read", case)
            elif reader.role != "auditor":
                raise NotAllowed(
                    f"{reader.username} ({reader.role}) may not read case {number}: it has no "
                    "record (refused at opening), so its entries are for auditors"
                )
        rows = entries(s, number, prefix, required)
        if reader is not None and reader.role != "auditor":
            rows = readable(s, reader, rows)
    with ctx.session() as s:
        audit.append(
            s,
            "audit.export",
            obj,
            {"entries": len(rows), "prefix": prefix},
            actor=actor.username if actor else None,
        )
    return rows


def case_objects(s: Session, number: str) -> list[str]:
    """The objects of a case's trail besides ``case:N``: its requests' searches, their probes
    as received and LeadGuard's edits of them, and every search of those probes. A case
    refused at opening has entries but no row: then none."""
    case_id = s.scalar(select(Case.id).where(Case.number == number))
    objects: list[str] = []
    for req in s.scalars(select(SearchRequest).where(SearchRequest.case_id == (case_id or -1))):
        if req.search_id is not None:
            objects.append(f"search:{req.search_id}")
        if req.probe_id is None:
            continue
        probes = [req.probe_id]  # the probe as received and LeadGuard's edits of it
        probes += s.scalars(
            select(ProbeRecord.id).where(ProbeRecord.parent_id == req.probe_id)
        ).all()
        objects += [f"probe:{p}" for p in probes]
        objects += [
            f"search:{sid}"
            for sid in s.scalars(select(SearchLog.id).where(SearchLog.probe_id.in_(probes)))
        ]
    return objects


def entries(
    s: Session, number: str | None, prefix: str = "", required: int = 2
) -> list[dict[str, Any]]:
    """The entries ``trail`` exports (a read: writes nothing), those under blind review
    sealed (``required``: the reviews a search needs before anything is revealed)."""
    from leadguard.services.casework.blind import seal

    q = select(AuditEntry).order_by(AuditEntry.seq)
    case = None
    if number is not None:
        case = s.scalars(select(Case).where(Case.number == number)).first()
        objects = case_objects(s, number)
        q = q.where(or_(audit.object_clause(f"case:{number}"), AuditEntry.object.in_(objects)))
    elif prefix:
        q = q.where(audit.object_clause(prefix))
    rows = [
        audit.entry_dict(e)
        for e in s.scalars(q)
        # exact: case M-A1's trail never takes case M-A1/X's entries (case:M-A1/X/...)
        if number is None or e.object in objects or textsafe.case_of(e.object) == number
    ]
    if number is not None and case is None and not rows:
        raise InputError(f"case {number!r} does not exist and has no audit entries")
    return seal(s, rows, required)


def owners(s: Session) -> dict[str, str]:
    """Audit objects tied to a case through its requests (``search:S``, ``probe:P``,
    ``request:R``) -> the case number; ``case:N/...`` objects name theirs."""
    out: dict[str, str] = {}
    for req, number in s.execute(select(SearchRequest, Case.number).join(Case)):
        out[f"request:{req.id}"] = number
        if req.search_id is not None:
            out[f"search:{req.search_id}"] = number
        if req.probe_id is None:
            continue
        probes = [req.probe_id]
        probes += s.scalars(select(ProbeRecord.id).where(ProbeRecord.parent_id == req.probe_id))
        out.update({f"probe:{p}": number for p in probes})
        for sid in s.scalars(select(SearchLog.id).where(SearchLog.probe_id.in_(probes))):
            out[f"search:{sid}"] = number
    for obj in s.scalars(  # urgent searches: case:N/search:S
        select(AuditEntry.object).where(AuditEntry.action == "search.override")
    ):
        owner = textsafe.case_of(obj)
        rest = obj.removeprefix(f"case:{owner}/")
        if owner is not None and rest.startswith("search:"):
            out[rest] = owner
    return out


def case_of(obj: str, owned: dict[str, str]) -> str | None:
    """The case an audit object belongs to, or None for a workspace-wide one."""
    if obj.startswith("case:"):
        return textsafe.case_of(obj)
    return owned.get(obj.split("/", 1)[0])  # request:R/probe -> request:R


def readable(s: Session, reader: User, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a reader who is not an auditor may see of ``rows``: entries of the cases they may
    read (``audit.read`` on the case), and entries tied to no case written by a user of
    their unit."""
    from leadguard.services.authz import authorize

    owned = owners(s)
    unit_users = set(s.scalars(select(User.username).where(User.unit == reader.unit)))
    allowed: dict[str, bool] = {}

    def may(number: str) -> bool:
        if number not in allowed:
            case = s.scalars(select(Case).where(Case.number == number)).first()
            try:
                if case is None:
                    raise NotAllowed("no case record")
                authorize(reader, "audit.read", case, is_assigned(s, reader, case))
                allowed[number] = True
            except NotAllowed:
                allowed[number] = False
        return allowed[number]

    out = []
    for e in rows:
        number = case_of(e["object"], owned)
        if number is None:
            if e["actor"] in unit_users and reader.unit:
                out.append(e)
        elif may(number):
            out.append(e)
    return out


@dataclass(frozen=True)
class DocumentCheck:
    """A written document (a lead or transparency report, a file of a disclosure packet)
    against the audit log: the entry that recorded its SHA-256 when LeadGuard wrote it,
    or none (not a document LeadGuard wrote, or changed since)."""

    path: str
    sha256: str
    entry: int | None = None
    action: str = ""
    actor: str = ""
    at: str = ""
    recorded_as: str = ""  # the file name the entry gives it
    problem: str = ""  # the file could not be read


def documents(ctx: Context, actor: Actor | None, paths: list[Path]) -> list[DocumentCheck]:
    """Each file's SHA-256 looked up among the files the audit entries recorded. A read
    (auditors, and whoever may read the log); ``audit verify`` proves the entries."""
    operator_check(ctx, actor, "audit.read", "audit")
    out = []
    with ctx.read_session() as s:
        for path in paths:
            shown = textsafe.shown_path(path)
            try:
                if not stat.S_ISREG(path.stat().st_mode):  # a pipe or a device never ends
                    out.append(DocumentCheck(shown, "", problem="is not a regular file"))
                    continue
                sha = index_files.sha256_file(path)
            except OSError as exc:  # the others are still checked
                why = f"cannot be read ({exc.strerror or exc})"
                out.append(DocumentCheck(shown, "", problem=why))
                continue
            out.append(_recorded(s, DocumentCheck(shown, sha)))
    return out


def _recorded(s: Session, found: DocumentCheck) -> DocumentCheck:
    """The first entry that recorded a file of this digest: among its ``files`` (reports,
    packets), or as its own ``sha256`` with its ``file`` (a disclosure packet's zip)."""
    sha = found.sha256
    q = (
        select(AuditEntry)
        .where(cast(AuditEntry.details, Text).like(f"%{sha}%"))
        .order_by(AuditEntry.seq)
    )
    for e in s.scalars(q):
        details = e.details if isinstance(e.details, dict) else {}
        files = details.get("files")
        names = [n for n, d in (files if isinstance(files, dict) else {}).items() if d == sha]
        if not names and details.get("sha256") == sha and isinstance(details.get("file"), str):
            names = [details["file"]]
        if names:
            return replace(
                found,
                entry=e.seq,
                action=e.action,
                actor=e.actor,
                at=e.at,
                recorded_as=str(names[0]),
            )
    return found
