"""Every record that decides an outcome is in the hash chain: a workspace built by normal
use (accounts, logins good and bad, a lockout, a password change, a case with assignments,
an enrollment, an evidence model, an accuracy record, a model acceptance, a removal)
verifies, and each kind of direct database edit below is named by ``audit verify``."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Connection, select, text

from leadguard.acceptance.records import add_acceptance
from leadguard.audit import anchor, failures_state, head, keyed
from leadguard.audit import log as audit
from leadguard.audit.lookalike_state import TABLE
from leadguard.core.config import Settings
from leadguard.core.types import Box, Detection, FaceTemplate, ImageMeta
from leadguard.evaluation.run import save_record
from leadguard.evaluation.templates import store_cached
from leadguard.evidence.gallery_figures import record_resolution
from leadguard.evidence.model import adopt_shipped
from leadguard.face_models import create_model
from leadguard.gallery.enroll import register_space
from leadguard.gallery.lookalikes import rebuild_workspace
from leadguard.gallery.maintenance import remove_subject
from leadguard.services import accounts
from leadguard.services.audit_key import adopt_key
from leadguard.services.authz import NotAllowed
from leadguard.services.casework import service as cw
from leadguard.services.context import Context
from leadguard.storage import failure_queries
from leadguard.storage import queries as repo
from leadguard.storage.audited_rows import audited_rows
from leadguard.storage.tables import AuditEntry
from leadguard.storage.workspace import Workspace
from tests.conftest import new_database_url
from tests.pgserver import copy_workspace
from tests.unit.accounts_kit import cheap_hashing

PW = "correct horse battery staple"
SPACE = "945135dd216ff1a3"  # the space LeadGuard ships an evidence model for


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


def _enroll(ws: Workspace, people: list[tuple[str, str, str, int]]) -> None:
    """One batch stored and audited as ``enroll`` stores it (without the face model)."""
    rng = np.random.default_rng(7)
    rows = []
    for external_id, sex, race, photos in people:
        for k in range(photos):
            sha = hashlib.sha256(f"{external_id}/{k}".encode()).hexdigest()
            vec = rng.standard_normal(128).astype(np.float32)
            vec /= np.linalg.norm(vec)
            rows.append(
                repo.NewTemplate(
                    repo.SubjectInfo(external_id, date(2020 + k, 1, 1), sex, race),
                    ImageMeta(f"/g/{external_id}/{k}.jpg", sha, "JPEG", 200, 200, 1000),
                    FaceTemplate(Detection(Box(10, 10, 90, 90), 1.0), vec, SPACE),
                    1,
                )
            )
    with ws.session() as s:
        register_space(s, create_model(Settings()).space)  # hashes the weights only
        ids = repo.save_templates(s, rows)
        shas = [r.image.sha256 for r in rows]
        audit.append(
            s,
            "enroll_batch",
            f"gallery:{SPACE}",
            {"templates": ids, "images": shas},
            records=audited_rows(s, ids, shas),
        )


pytestmark = pytest.mark.usefixtures("database")  # SQLite and PostgreSQL


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, backend: str, request) -> Path:
    mp = pytest.MonkeyPatch()
    cheap_hashing(mp)
    root = tmp_path_factory.mktemp("tamper")
    ctx = Context(Workspace.init(root / "ws", database_url=new_database_url(request, backend)))
    accounts.add_user(ctx, None, "admin", PW, "admin")
    admin = accounts.login(ctx, "admin", PW).actor
    key_dir = root / "keys"
    key_dir.mkdir(mode=0o700)
    adopt_key(ctx, admin, key_dir / "audit.key")  # what follows runs on a keyed log
    for name, role in (("sup", "supervisor"), ("ex1", "examiner"), ("ex2", "examiner")):
        accounts.add_user(ctx, admin, name, PW, role, "north")
    sup = accounts.login(ctx, "sup", PW).actor
    ex1 = accounts.login(ctx, "ex1", PW)
    for _ in range(ctx.settings.login_attempts + 3):  # failed logins and a lockout
        with pytest.raises(NotAllowed):
            accounts.login(ctx, "ex2", "not the password at all")
    with pytest.raises(NotAllowed):
        accounts.login(ctx, "nobody", "not the password at all")
    accounts.logout(ctx, ex1.token)
    ex1 = accounts.login(ctx, "ex1", PW)
    accounts.change_password(ctx, ex1.actor, PW, PW + " again")
    ex1 = accounts.login(ctx, "ex1", PW + " again")
    cw.open_case(ctx, sup, "C-1", "Robbery", date(2026, 3, 1), "d", {}, "Det. R", "warrant 26-117")
    cw.assign(ctx, sup, "C-1", "ex1")
    still = root / "still.jpg"  # a request filed and approved: its probe and request rows
    Image.fromarray(np.random.default_rng(5).integers(0, 255, (64, 64, 3), np.uint8)).save(still)
    filed = cw.request_search(ctx, ex1.actor, "C-1", still, "surveillance_still", "a lead")
    cw.approve(ctx, sup, filed.id)
    _enroll(ctx.ws, [("ana", "F", "Black", 2), ("bob", "M", "White", 2), ("cy", "M", "Asian", 1)])
    _enroll(ctx.ws, [("ana", "F", "Black", 3)])  # a later photo of a known person
    rebuild_workspace(ctx.ws, SPACE)  # the look-alike counts, and their digest in the chain
    rng = np.random.default_rng(3)  # an evaluation's cached templates, and their digest
    cached = [
        (
            hashlib.sha256(b"eval %d" % i).hexdigest(),
            rng.random(128, np.float32).tobytes(),
            1,
            "",
            "",
        )
        for i in range(3)
    ]
    store_cached(ctx.ws, SPACE, cached)
    with ctx.session() as s:  # an image that failed to enroll, as an enrollment batch keeps it
        sha = hashlib.sha256(b"a wall").hexdigest()
        before = failure_queries.failure_rows_of(s, SPACE, [sha])
        repo.save_failure(s, sha, SPACE, "/g/wall.png", "no_face", "no face found")
        s.flush()
        failures_state.record_batch(
            s, SPACE, before, failure_queries.failure_rows_of(s, SPACE, [sha])
        )
    adopt_shipped(ctx.ws, SPACE)
    prov = {
        "embedding_space": {"key": SPACE},
        "protocol": "lfw_view2",
        "dataset": "/d",
        "dataset_checksum": "0" * 64,
        "command": "leadguard eval lfw",
        "software_version": "1",
    }
    rec = save_record(ctx.ws, prov, {"eer": 0.03}, root / "out", [])
    with ctx.session() as s:
        add_acceptance(s, SPACE, "dlib", {"key": SPACE}, {"lfw": rec}, "admin", "ok")
    with ctx.session() as s:  # the agency's verdicts, as `gallery duplicates --resolve` writes
        for a, b, verdict in (("ana", "bob", "different people"), ("bob", "cy", "same person")):
            row = record_resolution(s, SPACE, a, b, verdict, "checked", 0.97, "sup")
            audit.append(s, "gallery_duplicate_resolve", f"subjects:{a}|{b}", {}, records=[row])
    remove_subject(ctx.ws, "cy")  # deletes cy's verdict too, and names it as deleted
    accounts.deactivate_user(ctx, admin, "ex2")
    ctx.close()
    mp.undo()
    return root / "ws"


@pytest.fixture
def ws(built: Path, tmp_path: Path, backend: str, request) -> Iterator[Workspace]:
    server = request.getfixturevalue("pg_server") if backend == "postgres" else None
    copy_workspace(built, tmp_path / "ws", server)
    w = Workspace.open(tmp_path / "ws")
    assert w.engine.dialect.name == {"sqlite": "sqlite", "postgres": "postgresql"}[backend]
    with w.session() as s:  # the copy's first write: this account's head receipt for it
        audit.append(s, "note", "workspace", {"copied": True})
    yield w
    w.close()


def verify(ws: Workspace) -> audit.ChainCheck:
    """As `audit verify` does: the head receipt read first, then the database."""
    receipt = head.read_first(ws.session_info().get(keyed.INFO), ws.root)
    with ws.session() as s:
        return audit.verify(s, receipt=receipt)


def _edit_evidence_model(conn: Connection) -> int:
    """Rewrite the stored model's bytes (one byte inside its arrays) as an insider would."""
    payload = bytearray(conn.execute(text("SELECT payload FROM evidence_models")).scalar_one())
    payload[len(payload) // 2] ^= 0xFF
    done = conn.execute(text("UPDATE evidence_models SET payload = :p"), {"p": bytes(payload)})
    return int(done.rowcount)


def _raise_a_lookalike_count(conn: Connection) -> int:
    """Add 5 to one grid point of one template's counts (a candidate would then be said to
    resemble five more enrolled people)."""
    blob = conn.execute(
        text("SELECT counts FROM lookalike_counts ORDER BY template_id LIMIT 1")
    ).scalar_one()
    counts = np.frombuffer(bytes(blob), dtype="<u4").copy()
    counts[len(counts) // 2] += 5
    done = conn.execute(
        text(
            "UPDATE lookalike_counts SET counts = :c WHERE template_id = "
            "(SELECT min(template_id) FROM lookalike_counts)"
        ),
        {"c": counts.tobytes()},
    )
    return int(done.rowcount)


def _replace_a_cached_template(conn: Connection) -> int:
    """Swap one cached evaluation template for another image's (what the next fit reads)."""
    vectors = conn.execute(text("SELECT vector FROM template_cache ORDER BY sha256")).scalars()
    other = list(vectors)[-1]
    done = conn.execute(
        text(
            "UPDATE template_cache SET vector = :v WHERE sha256 = "
            "(SELECT min(sha256) FROM template_cache)"
        ),
        {"v": other},
    )
    return int(done.rowcount)


def _forge_a_head_entry(conn: Connection) -> int:
    """Append an entry with a correct hash, as an insider who knows the chain's rule (but
    cannot read the audit key) would: a settings change nobody made."""
    log = AuditEntry.__table__
    seq, head = conn.execute(
        select(log.c.seq, log.c.hash).order_by(log.c.seq.desc()).limit(1)
    ).one()
    at, details = "2026-12-07T18:00:00+00:00", {"old": 0.01, "new": 0.2, "safeguard": True}
    args = (seq + 1, at, "admin", "settings.set", "settings:target_fpir", details)
    row = dict(zip(("seq", "at", "actor", "action", "object", "details"), args, strict=True))
    conn.execute(log.insert().values(**row, prev_hash=head, hash=audit.content_hash(head, *args)))
    return 1


def _rewrite_and_rechain(conn: Connection) -> int:
    """Change who did entry 20 and recompute every hash from it on: a consistent chain."""
    log = AuditEntry.__table__
    rows = conn.execute(select(log).where(log.c.seq >= 20).order_by(log.c.seq)).all()
    prev = rows[0].prev_hash
    for k, r in enumerate(rows):
        actor = "someone else" if k == 0 else r.actor
        new = audit.content_hash(prev, r.seq, r.at, actor, r.action, r.object, r.details)
        conn.execute(
            log.update().where(log.c.id == r.id).values(actor=actor, prev_hash=prev, hash=new)
        )
        prev = new
    return len(rows)


CALLABLE_TABLE = {
    _forge_a_head_entry: "audit_log",
    _rewrite_and_rechain: "audit_log",
    _edit_evidence_model: "evidence_models",
    _raise_a_lookalike_count: TABLE,
    _replace_a_cached_template: "template_cache",
}


def _table(statement: str) -> str:
    m = re.match(r"(?:UPDATE|INSERT INTO|DELETE FROM) (\w+)", statement)
    assert m is not None, statement
    return m.group(1)


Tamper = str | Callable[[Connection], int]
_INSERT_REQUEST = (
    "INSERT INTO search_requests (case_id, probe_path, source_type, purpose, requested_by, "
    "status, approved_by, probe_id, probe_sha256, edits, adjudications, created_at) "
    "SELECT case_id, probe_path, source_type, purpose, requested_by, 'approved', approved_by, "
    "probe_id, probe_sha256, edits, adjudications, created_at FROM search_requests"
)
_INSERT_LEAD = (
    "INSERT INTO leads (request_id, subject, released_by, basis, corroboration, "
    "lineup_recorded, outcomes, released_at) "
    "VALUES (2, 'ana', 1, 'concurring', '[]', false, '[]', '2026-01-01')"
)
ADMIN_HASH = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
TAMPERING: dict[str, list[Tamper]] = {
    # subjects: who a candidate is, and what is recorded about them
    "swap two names": [
        "UPDATE subjects SET external_id = 'tmp' WHERE external_id = 'ana'",
        "UPDATE subjects SET external_id = 'ana' WHERE external_id = 'bob'",
        "UPDATE subjects SET external_id = 'bob' WHERE external_id = 'tmp'",
    ],
    "rename a subject": ["UPDATE subjects SET external_id = 'zed' WHERE external_id = 'bob'"],
    "change recorded sex": ["UPDATE subjects SET sex = 'M' WHERE external_id = 'ana'"],
    "change recorded race": ["UPDATE subjects SET race = 'White' WHERE external_id = 'ana'"],
    "insert a subject": [
        "INSERT INTO subjects (external_id, created_at) VALUES ('new', '2026-01-01')"
    ],
    "put back a removed subject": [
        "INSERT INTO subjects (id, external_id, created_at) VALUES (3, 'cy', '2026-01-01')"
    ],
    "change an encounter date": [
        "UPDATE encounters SET encounter_date = '2025-12-31' WHERE id = 1"
    ],
    "move an encounter to another subject": ["UPDATE encounters SET subject_id = 2 WHERE id = 1"],
    "insert an encounter": [
        "INSERT INTO encounters (subject_id, encounter_date, created_at) "
        "VALUES (1, '2026-01-01', '2026-01-01')"
    ],
    "move an image to another encounter": ["UPDATE images SET encounter_id = 3 WHERE id = 1"],
    "change an image's source path": ["UPDATE images SET source_path = '/elsewhere.jpg'"],
    "swap a template vector": [
        "UPDATE templates SET vector = (SELECT vector FROM templates WHERE id = 3) WHERE id = 1"
    ],
    "delete a template": ["DELETE FROM templates WHERE id = 2"],
    "plant a template": [
        'INSERT INTO faces (image_id, space_key, "left", top, "right", bottom, detector_score, '
        'faces_in_image, landmarks) SELECT image_id, space_key, "left", top, "right", '
        "bottom, detector_score, faces_in_image, landmarks FROM faces WHERE id = 1",
        "INSERT INTO templates (face_id, space_key, dim, vector, created_at) "
        "SELECT (SELECT max(id) FROM faces), space_key, dim, vector, created_at "
        "FROM templates WHERE id = 1",
    ],
    "delete an image (and its templates)": ["DELETE FROM images WHERE id = 1"],
    # faces: where the face is, and the quality verdict it was enrolled with
    "change a face's quality verdict": ['UPDATE faces SET quality = \'{"decision": "pass"}\''],
    "move a face's box": ['UPDATE faces SET "left" = 0, top = 0 WHERE id = 1'],
    "insert a face": [
        'INSERT INTO faces (image_id, space_key, "left", top, "right", bottom, detector_score, '
        'faces_in_image, landmarks) SELECT image_id, space_key, "left", top, "right", '
        "bottom, detector_score, faces_in_image, landmarks FROM faces WHERE id = 1"
    ],
    # which model and detector a space is
    "change a space's descriptor": ['UPDATE embedding_spaces SET descriptor = \'{"model": "x"}\''],
    "insert an embedding space": [
        "INSERT INTO embedding_spaces (key, descriptor, created_at) "
        "VALUES ('ffffffffffffffff', '{}', '2026-01-01')"
    ],
    # the agency's verdicts on probable duplicates (what the stranger figures count)
    "change a duplicate verdict": ["UPDATE probable_duplicates SET verdict = 'same person'"],
    "insert a duplicate verdict": [
        "INSERT INTO probable_duplicates (space_key, subject_a, subject_b, verdict, note, score, "
        f"resolved_by, resolved_at) VALUES ('{SPACE}', 'ana', 'zed', 'same person', 'x', 0.99, "
        "'sup', '2026-01-01')"
    ],
    "delete a duplicate verdict": ["DELETE FROM probable_duplicates"],
    "put back a removed subject's verdict": [
        "INSERT INTO probable_duplicates (id, space_key, subject_a, subject_b, verdict, note, "
        f"score, resolved_by, resolved_at) VALUES (2, '{SPACE}', 'bob', 'cy', 'same person', "
        "'checked', 0.97, 'sup', '2026-01-01')"
    ],
    # accounts and tokens
    "insert an admin account": [
        "INSERT INTO users (username, password_hash, role, unit, active, created_at) "
        f"VALUES ('eve', '{ADMIN_HASH}', 'admin', '', true, '2026-01-01')"
    ],
    "make an examiner an admin": ["UPDATE users SET role = 'admin' WHERE username = 'ex1'"],
    "move an examiner to another unit": ["UPDATE users SET unit = 'south' WHERE username = 'ex1'"],
    "set a password hash": [
        f"UPDATE users SET password_hash = '{ADMIN_HASH}' WHERE username = 'sup'"
    ],
    "reactivate an account": ["UPDATE users SET active = true WHERE username = 'ex2'"],
    "rename an account": ["UPDATE users SET username = 'boss' WHERE username = 'sup'"],
    "insert a login token": [
        "INSERT INTO auth_tokens (user_id, token_sha256, created_at, expires_at, revoked) "
        f"VALUES (1, '{'f' * 64}', '2026-01-01', '2999-01-01', false)"
    ],
    "un-revoke a token": ["UPDATE auth_tokens SET revoked = false"],
    "extend a token": ["UPDATE auth_tokens SET expires_at = '2999-01-01 00:00:00'"],
    "give a token to another account": ["UPDATE auth_tokens SET user_id = 1 WHERE user_id = 3"],
    # cases
    "insert a case assignment": [
        "INSERT INTO case_assignments (case_id, user_id) "
        "SELECT 1, id FROM users WHERE username = 'ex2'"
    ],
    "move an assignment to another user": [
        "UPDATE case_assignments SET user_id = (SELECT id FROM users WHERE username = 'ex2') "
        "WHERE user_id = (SELECT id FROM users WHERE username = 'ex1')"
    ],
    "delete an assignment": ["DELETE FROM case_assignments WHERE id = 2"],
    "change a case's offence": ["UPDATE cases SET offence = 'homicide'"],
    "change a case's status": ["UPDATE cases SET status = 'suspect_identified'"],
    "insert a case": [
        "INSERT INTO cases (number, offence, incident_date, description, attributes, "
        "requesting_officer, legal_authority, unit, status, created_at) "
        "VALUES ('C-2', 'robbery', '2026-01-01', 'd', '{}', 'o', 'l', 'north', 'open', "
        "'2026-01-01')"
    ],
    # casework: what was asked, approved, reviewed, released and corroborated (0019)
    "approve a request by hand": ["UPDATE search_requests SET approved_by = 1"],
    "change a request's purpose": ["UPDATE search_requests SET purpose = 'anything'"],
    "swap a stored probe's bytes": [
        "UPDATE probes SET data = (SELECT payload FROM evidence_models)"
    ],
    "insert an approved request": [_INSERT_REQUEST],
    "insert a review": [
        _INSERT_REQUEST,
        "INSERT INTO reviews (request_id, examiner_id, decisions, submitted_at) "
        "VALUES (2, 1, '{}', '2026-01-01')",
    ],
    "insert a lead": [_INSERT_REQUEST, _INSERT_LEAD],
    "insert a corroboration": [
        _INSERT_REQUEST,
        _INSERT_LEAD,
        "INSERT INTO corroborations (lead_id, kind, description, how_obtained, obtained_by, "
        "obtained_on, face_comparison_involved, witness_shown_candidate, links_to, counts, "
        "recorded_by, recorded_at) VALUES (1, 'alibi', 'x', 'x', 'x', '2026-01-01', false, "
        "false, 'offence', true, 'sup', '2026-01-01')",
    ],
    "insert a photo-array showing": [
        _INSERT_REQUEST,
        _INSERT_LEAD,
        "INSERT INTO lineup_showings (lead_id, array_entry, administrator, witness, "
        "witness_type, witness_note, instruction, decisions, recorded_by, recorded_at) "
        "VALUES (1, 1, 'a', 'w', 'eyewitness', '', 'i', '[]', 'sup', '2026-01-01')",
    ],
    "insert an external search": [
        "INSERT INTO external_searches (case_id, recorded_by, run_by, system, run_on, candidate, "
        "how_received, notes, created_at) VALUES (1, 1, 'x', 'y', '2026-03-02', 'ana', 'mail', "
        "'', '2026-03-02')"
    ],
    "insert a search log row": [
        "INSERT INTO search_log (created_at, probe_sha256, probe_source, space_key, mode, "
        "gallery_subjects, gallery_templates, candidates, outcome, result) VALUES "
        f"('2026-01-01', '{'a' * 64}', 'p', '{SPACE}', 'open-set', 3, 6, 1, 'candidates', '{{}}')"
    ],
    "insert a probe": [
        "INSERT INTO probes (created_at, sha256, source_type, original_name, exif, edits, data) "
        "SELECT created_at, sha256, source_type, 'other.jpg', exif, edits, data FROM probes"
    ],
    # what a score is worth, and what a space is allowed to do
    "alter the evidence model (thresholds)": [_edit_evidence_model],
    "alter the evidence model's recorded hash": ["UPDATE evidence_models SET payload_sha256 = 'x'"],
    "insert a newer evidence model": [
        "INSERT INTO evidence_models (created_at, space_key, source, payload, payload_sha256) "
        "SELECT created_at, space_key, 'measured', payload, 'y' FROM evidence_models"
    ],
    "alter an accuracy record's metrics": [
        "UPDATE accuracy_records SET metrics = '{\"eer\": 0.001}'"
    ],
    "insert an accuracy record": [
        "INSERT INTO accuracy_records (created_at, space_key, space, protocol, dataset, "
        "dataset_checksum, command, software_version, metrics, report_dir, score_files) "
        "SELECT created_at, space_key, space, protocol, dataset, dataset_checksum, command, "
        "software_version, metrics, report_dir, score_files FROM accuracy_records"
    ],
    "alter a model acceptance": ["UPDATE model_acceptances SET evaluation = '{}'"],
    "insert a model acceptance": [
        "INSERT INTO model_acceptances (space_key, model_name, space, evaluation, accepted_by, "
        "note, created_at) SELECT space_key, 'other', space, evaluation, accepted_by, note, "
        "created_at FROM model_acceptances"
    ],
    # what a list says a candidate resembles (derived, under one set digest per space)
    "raise a look-alike count": [_raise_a_lookalike_count],
    "delete a template's look-alike counts": [
        "DELETE FROM lookalike_counts WHERE template_id = (SELECT min(template_id) FROM "
        "lookalike_counts)"
    ],
    "relabel the look-alike grid": ["UPDATE lookalike_counts SET grid = 'fisher-z/0.05/6-83'"],
    "empty the look-alike counts": ["DELETE FROM lookalike_counts"],
    # what a later evaluation fits from (the evaluation cache, one set digest per space)
    "replace a cached evaluation template": [_replace_a_cached_template],
    "mark a cached template a failure": [
        "UPDATE template_cache SET vector = NULL, error_code = 'no_face' WHERE sha256 = "
        "(SELECT min(sha256) FROM template_cache)"
    ],
    "insert a cached evaluation template": [
        "INSERT INTO template_cache (sha256, space_key, vector, faces_in_image, error_code, "
        "error) SELECT 'f' || substr(sha256, 2), space_key, vector, faces_in_image, "
        "error_code, error FROM template_cache"
    ],
    "empty the evaluation cache": ["DELETE FROM template_cache"],
    # which images an enrollment skips as "failed before" (one set digest per space)
    "insert an enrollment failure": [
        "INSERT INTO enroll_failures (sha256, space_key, source_path, reason_code, message, "
        "created_at) SELECT 'f' || substr(sha256, 2), space_key, source_path, reason_code, "
        "message, created_at FROM enroll_failures"
    ],
    "change an enrollment failure's reason": [
        "UPDATE enroll_failures SET reason_code = 'unreadable', message = 'corrupt'"
    ],
    "delete an enrollment failure": ["DELETE FROM enroll_failures"],
    # the log itself
    "edit an audit entry": ["UPDATE audit_log SET actor = 'someone' WHERE seq = 3"],
    "delete an audit entry": ["DELETE FROM audit_log WHERE seq = 4"],
    "empty the log": ["DELETE FROM audit_log"],
    # an insider who recomputes hashes (caught by the audit key's codes, or an anchor after)
    "append a forged entry with a correct hash": [_forge_a_head_entry],
    "rewrite an entry and recompute the chain after it": [_rewrite_and_rechain],
    "strip the authentication codes": ["DELETE FROM audit_macs"],
    # the newest entries deleted with their codes: a chain that holds, every code valid
    # (caught by this account's head receipt, or an anchor after them)
    "cut off the newest entries and their codes": [
        "DELETE FROM audit_macs WHERE seq > (SELECT max(seq) - 3 FROM audit_log)",
        "DELETE FROM audit_log WHERE seq > (SELECT max(seq) - 3 FROM audit_log)",
    ],
    "cut off the newest entry (one that names no record) and its code": [
        "DELETE FROM audit_macs WHERE seq = (SELECT max(seq) FROM audit_log)",
        "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)",
    ],
    "copy one entry's code onto another": [
        "UPDATE audit_macs SET code = (SELECT code FROM audit_macs WHERE seq = "
        "(SELECT min(seq) FROM audit_macs)) WHERE seq = (SELECT max(seq) FROM audit_macs)"
    ],
}


def test_the_shipped_space_is_the_default() -> None:
    assert create_model(Settings()).space.key == SPACE


def test_normal_use_verifies(ws: Workspace) -> None:
    check = verify(ws)
    assert check.intact, (check.reason, check.problems)
    assert check.records_checked > 30
    assert "checked with key" in check.keyed_note  # keyed early: every later entry has a code


def _anchored(ws: Workspace, folder: Path) -> anchor.Anchor:
    key = folder / "keys" / "anchor.key"
    key.parent.mkdir(mode=0o700)
    anchor.keygen(key, ws.root)
    with ws.session() as s:
        signed = anchor.make(s, key, ws.root)  # refused unless the log verifies
    anchor.write(signed, folder / "a.json", ws.root)
    return anchor.load(folder / "a.json", anchor.load_public_key(key.with_name("anchor.key.pub")))


@pytest.mark.parametrize("anchored", [False, True], ids=["chain", "anchored"])
@pytest.mark.parametrize("kind", sorted(TAMPERING))
def test_each_tampering_is_detected(
    ws: Workspace, tmp_path: Path, kind: str, anchored: bool
) -> None:
    signed = _anchored(ws, tmp_path) if anchored else None
    with ws.engine.begin() as conn:
        for statement in TAMPERING[kind]:
            if isinstance(statement, str):
                assert conn.execute(text(statement)).rowcount >= 1, statement
            else:
                assert statement(conn) >= 1
    if signed is not None:
        with ws.session() as s:
            check, results = anchor.verify(s, [signed])
        assert not check.intact or not all(r.ok for r in results), kind
        return
    check = verify(ws)
    assert not check.intact, kind
    last = TAMPERING[kind][-1]
    table = CALLABLE_TABLE[last] if not isinstance(last, str) else _table(last)
    if table in ("audit_log", "audit_macs"):
        assert check.broken_at is not None or check.problems
    else:  # the finding names the table that was edited
        assert any(p.startswith(f"{table} row") for p in check.record_problems), check


def test_the_tampering_kinds_are_at_least_forty() -> None:
    assert len(TAMPERING) >= 40
