"""``audit verify`` covers the working records its entries name: a row edited or deleted
directly in the database (as an insider would) is named, a deletion the log recorded is
accepted, and a damaged audit row is named instead of crashing the check."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DataError

from leadguard.audit import log as audit
from leadguard.storage.tables import Case, ProbeRecord, Review, SearchLog, SearchRequest, User
from leadguard.storage.workspace import Workspace

pytestmark = pytest.mark.usefixtures("database")  # SQLite and PostgreSQL


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """Users, a probe, a search, a case with a request and a review, each recorded by the
    audit entry that created it (as the casework and search services do)."""
    w = Workspace.init(tmp_path / "ws")
    with w.session() as s:
        ana = User(username="ana", password_hash="h1", role="examiner", unit="u")
        sup = User(username="sup", password_hash="h2", role="supervisor", unit="u")
        s.add_all([ana, sup])
        s.flush()
        audit.append(s, "user_added", "user:ana", {}, actor="admin", records=[ana])
        audit.append(s, "user_added", "user:sup", {}, actor="admin", records=[sup])
        probe = ProbeRecord(
            sha256="a" * 64,
            source_type="cctv",
            original_name="p.jpg",
            exif={"Make": "X"},
            editor=None,
            edits=[],
            data=b"\xff\xd8probe",
        )
        s.add(probe)
        s.flush()
        audit.append(s, "probe_received", f"probe:{probe.id}", {}, records=[probe])
        search = SearchLog(
            probe_sha256="a" * 64,
            probe_source="p.jpg",
            probe_id=probe.id,
            space_key="k",
            mode="open-set",
            gallery_subjects=10,
            gallery_templates=20,
            threshold=0.61,
            target_fpir=0.01,
            candidates=1,
            outcome="candidates",
            result={"candidates": [{"subject": "s1", "score": 0.7}]},
        )
        s.add(search)
        s.flush()
        audit.append(s, "search", f"search:{search.id}", {}, records=[search])
        case = Case(
            number="C-1",
            offence="robbery",
            incident_date=date(2026, 1, 2),
            description="d",
            attributes={},
            requesting_officer="o",
            legal_authority="l",
            unit="u",
        )
        s.add(case)
        s.flush()
        req = SearchRequest(
            case_id=case.id,
            probe_path="p.jpg",
            source_type="cctv",
            purpose="x",
            requested_by=ana.id,
            search_id=search.id,
        )
        s.add(req)
        s.flush()
        review = Review(request_id=req.id, examiner_id=ana.id, decisions={"s1": "exclusion"})
        s.add(review)
        s.flush()
        audit.append(s, "review", "case:C-1/review", {}, actor="ana", records=[case, req, review])
    return w


def check(ws: Workspace) -> audit.ChainCheck:
    with ws.session() as s:
        return audit.verify(s)


def sql(ws: Workspace, statement: str) -> None:
    with ws.engine.begin() as conn:
        conn.execute(text(statement))


def damage(ws: Workspace, statement: str, database: str) -> bool:
    """True once the damage is stored. SQLite stores anything; PostgreSQL's typed columns
    (json, integer) refuse what is not their type outright, and the chain stays intact."""
    try:
        sql(ws, statement)
    except DataError:
        assert database == "postgres", "only PostgreSQL refuses a value of the wrong type"
        assert check(ws).intact
        return False
    return True


def test_untouched_records_verify(ws: Workspace) -> None:
    c = check(ws)
    assert c.intact and c.records_checked == 7, c.record_problems
    with ws.session() as s:
        assert c.head_seq == 6 and c.head_hash == audit.hash_at(s, 6)  # 1: the schema's


def test_an_edited_review_is_named(ws: Workspace) -> None:
    sql(ws, """UPDATE reviews SET decisions = '{"s1": "possible_lead"}'""")
    c = check(ws)
    assert c.broken_at is None and not c.intact  # the chain itself is untouched
    assert c.record_problems == ("reviews row 1 was changed after audit entry 6",)


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ("UPDATE users SET role = 'admin' WHERE username = 'ana'", "users row 1"),
        ("UPDATE users SET password_hash = 'mine' WHERE username = 'sup'", "users row 2"),
        ("UPDATE probes SET data = substr(data, 2)", "probes row 1"),  # SQLite, PG
        ("UPDATE probes SET source_type = 'mugshot'", "probes row 1"),
        ("UPDATE search_log SET threshold = 0.2", "search_log row 1"),
        ("UPDATE search_log SET result = '{\"candidates\": []}'", "search_log row 1"),
    ],
)
def test_edited_security_rows_are_named(ws: Workspace, statement: str, named: str) -> None:
    sql(ws, statement)
    c = check(ws)
    assert not c.intact
    assert len(c.record_problems) == 1 and c.record_problems[0].startswith(named)
    assert "changed after audit entry" in c.record_problems[0]


def test_a_deleted_working_record_is_named(ws: Workspace) -> None:
    sql(ws, "DELETE FROM reviews")
    c = check(ws)
    assert c.record_problems == ("reviews row 1 was deleted after audit entry 6",)


def test_the_latest_entry_naming_a_record_decides(ws: Workspace) -> None:
    with ws.session() as s:  # a legitimate change, recorded with the new content hash
        u = s.scalars(select(User).where(User.username == "ana")).one()
        u.role = "reviewer"
        s.flush()
        audit.append(s, "user_role", "user:ana", {}, actor="admin", records=[u])
    assert check(ws).intact
    sql(ws, "UPDATE users SET role = 'examiner' WHERE username = 'ana'")  # put back quietly
    assert check(ws).record_problems == ("users row 1 was changed after audit entry 7",)


def test_a_recorded_deletion_is_accepted_and_a_reappearance_named(ws: Workspace) -> None:
    with ws.session() as s:
        review = s.scalars(select(Review)).one()
        gone = audit.deleted_records([review])
        s.delete(review)
        s.flush()
        audit.append(s, "review_withdrawn", "case:C-1/review", {"deleted_records": gone})
    assert gone == [{"table": "reviews", "id": 1}]
    assert check(ws).intact
    sql(
        ws,
        "INSERT INTO reviews (id, request_id, examiner_id, decisions, submitted_at) "
        "VALUES (1, 1, 1, '{\"s1\": \"possible_lead\"}', '2026-01-01 00:00:00')",
    )
    assert check(ws).record_problems == (
        "reviews row 1 exists although audit entry 7 recorded its deletion",
    )


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ("UPDATE audit_log SET details = '{not json' WHERE seq = 3", "details are not valid JSON"),
        ("UPDATE audit_log SET details = '[1, 2]' WHERE seq = 3", "details are list"),
        ("UPDATE audit_log SET seq = 'three' WHERE seq = 3", "sequence number 'three'"),
        ("UPDATE audit_log SET hash = 'x' WHERE seq = 3", "hash is 'x'"),
        ("UPDATE audit_log SET prev_hash = 'zz' WHERE seq = 3", "previous hash is 'zz'"),
    ],
)
def test_a_damaged_audit_row_is_named_not_raised(
    ws: Workspace, statement: str, reason: str, database: str
) -> None:
    if not damage(ws, statement, database):
        return
    c = check(ws)
    assert not c.intact and c.broken_at is not None
    assert "audit_log row id 3" in c.reason and reason in c.reason, c.reason


def test_a_damaged_working_record_is_named_not_raised(ws: Workspace, database: str) -> None:
    if not damage(ws, "UPDATE reviews SET decisions = '{broken'", database):
        return
    c = check(ws)
    assert len(c.record_problems) == 1
    assert c.record_problems[0].startswith("reviews row 1 cannot be read")


def test_malformed_records_in_an_entry_are_named(ws: Workspace) -> None:
    with ws.session() as s:
        audit.append(s, "x", "y", {"records": [{"table": "reviews"}], "deleted_records": 3})
    problems = check(ws).record_problems
    assert any("entry 7: malformed item in records" in p for p in problems)
    assert any("entry 7: deleted_records is not a list" in p for p in problems)


def test_verify_writes_nothing(ws: Workspace) -> None:
    def snapshot() -> list[object]:
        with ws.engine.connect() as conn:
            return [
                conn.execute(text(f"SELECT * FROM {t} ORDER BY id")).all()
                for t in ("audit_log", "users", "reviews", "probes", "search_log")
            ]

    before = snapshot()
    for _ in range(2):
        assert check(ws).intact
    assert snapshot() == before


def test_null_fields_in_a_row_are_named() -> None:
    """The schema forbids NULL hashes, but a table rebuilt by hand need not: the reader
    names such a row too."""
    from leadguard.audit.records import _parse

    row = _parse(7, 3, "2026-01-01", "ana", "search", "search:3", "{}", None, "a" * 64)
    assert row.problem == "entry 3: previous hash is None, not a SHA-256 hex digest"
    row = _parse(8, None, None, None, None, None, None, None, None)
    assert row.problem == "sequence number None is not a whole number"
