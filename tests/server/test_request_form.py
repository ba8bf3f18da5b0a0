"""The request form for people: the preview keeps the upload (held under the login session
by a random token, with an expiry) and shows the quality verdict; the request is filed from
the held bytes through the same service; another user's, an expired or an unknown token is
refused; a crop from its fields; a case opened through the person-sought fields."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from sqlalchemy import select

from leadguard.server.held import HeldUploads, owner_of
from leadguard.storage.tables import AuditEntry
from tests.server.conftest import Served, csrf_of, web_client

pytestmark = pytest.mark.integration
NO_FILE = {"probe": ("", b"", "application/octet-stream")}  # what a browser sends


def _case(srv: Served, number: str) -> None:
    r = srv.post(
        "sup",
        "/api/cases",
        json={
            "number": number,
            "offence": "robbery",
            "incident_date": "2026-03-01",
            "description": "street robbery",
            "attributes": {"sex": "M"},
            "officer": "Det. Rivera",
            "authority": "warrant 26-118",
        },
    )
    assert r.status_code == 201, r.text
    for name in ("ex1", "ex2"):
        r = srv.post("sup", f"/api/cases/{number}/assign", json={"username": name})
        assert r.status_code == 200, r.text


def _form(client: Any, number: str) -> str:
    page = client.get(f"/cases/{number}/requests/new")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def _preview(client: Any, number: str, data: bytes, **extra: str) -> Any:
    fields = {"csrf": _form(client, number), "action": "preview", "purpose": "find him"}
    return client.post(
        f"/cases/{number}/requests",
        data={"source_type": "surveillance_still", **fields, **extra},
        files={"probe": ("still.jpg", data, "image/jpeg")},
    )


def _held(html: str) -> str:
    m = re.search(r'name="held" value="([^"]+)"', html)
    assert m is not None, "the preview holds no probe"
    return m.group(1)


def _file(client: Any, number: str, token: str, **extra: str) -> Any:
    data = {
        "csrf": _form(client, number),
        "action": "file",
        "source_type": "surveillance_still",
        "purpose": "find the robber",
        "held": token,
        **extra,
    }
    return client.post(
        f"/cases/{number}/requests", data=data, files=NO_FILE, follow_redirects=False
    )


def _requests(srv: Served, number: str) -> list[dict[str, Any]]:
    rows = srv.get("sup", "/api/requests").json()
    return [r for r in rows if r["case"] == number]


def test_preview_keeps_the_upload_and_files_it(served: Served) -> None:
    srv, number = served, "FORM-1"
    _case(srv, number)
    path = srv.probes[1][0]
    data = path.read_bytes()
    ex1 = web_client(srv, "ex1")
    pv = _preview(ex1, number, data)
    assert pv.status_code == 200, pv.text
    assert re.search(r"Quality: (passes the quality gate|refused by the quality gate)", pv.text)
    assert hashlib.sha256(data).hexdigest() in pv.text  # the held probe, named by its hash
    assert 'class="cropper"' in pv.text  # a box can be dragged (no edit moves the pixels)
    token = _held(pv.text)
    # a second preview (a crop typed into its fields) from the held probe, no upload
    again = ex1.post(
        f"/cases/{number}/requests",
        data={
            "csrf": _form(ex1, number),
            "action": "preview",
            "purpose": "p",
            "held": token,
            "crop_left": "10",
            "crop_top": "10",
            "crop_right": "140",
            "crop_bottom": "145",
        },
        files=NO_FILE,
    )
    assert again.status_code == 200, again.text
    assert 'width="130" height="135"' in again.text  # the crop applied to the held bytes
    assert 'data-crop-origin-x="10" data-crop-origin-y="10"' in again.text
    token = _held(again.text)

    before = len(_requests(srv, number))
    for face in ("\u00b2", "abc"):  # not a face's number: refused, not filed without one
        bad = _file(ex1, number, token, face=face)
        assert bad.status_code == 400 and "is not a face&#39;s number" in bad.text, bad.text
    assert len(_requests(srv, number)) == before
    r = _file(ex1, number, token)
    assert r.status_code == 303, r.text
    rows = _requests(srv, number)
    assert len(rows) == before + 1
    rid = max(x["id"] for x in rows)
    stored = srv.get("ex1", f"/api/requests/{rid}/probe")
    assert stored.status_code == 200
    assert hashlib.sha256(stored.content).hexdigest() == hashlib.sha256(data).hexdigest()
    # filed once: the token is spent
    assert _file(ex1, number, token).status_code == 400


def test_a_held_probe_is_only_for_its_own_login_and_expires(served: Served) -> None:
    srv, number = served, "FORM-2"
    _case(srv, number)
    data = srv.probes[1][0].read_bytes()
    ex1, ex2 = web_client(srv, "ex1"), web_client(srv, "ex2")
    token = _held(_preview(ex1, number, data).text)
    before = len(_requests(srv, number))

    other = _file(ex2, number, token)  # another user of the same case
    assert other.status_code == 400
    assert "no longer available" in other.text
    with srv.ctx.session() as s:  # the refusal is on record, as any refusal of the service
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert last is not None and (last.action, last.actor) == ("refused", "ex2")
    assert last.object == f"case:{number}"
    again = web_client(srv, "ex1")  # the same user, another login session
    assert _file(again, number, token).status_code == 400
    for bad in ("x" * 43, "../../etc/passwd", ""):
        r = _file(ex1, number, bad)
        assert r.status_code == 400, bad
    assert len(_requests(srv, number)) == before  # nothing filed

    st = srv.app.state.lg
    saved, now = st.held, [1000.0]
    st.held = HeldUploads(ttl=60.0, clock=lambda: now[0])
    try:
        token = _held(_preview(ex1, number, data).text)
        now[0] += 61.0
        r = _file(ex1, number, token)
        assert r.status_code == 400 and "no longer available" in r.text
    finally:
        st.held = saved
    assert len(_requests(srv, number)) == before


def test_held_store_is_bounded() -> None:
    store = HeldUploads(per_owner=2, total=3)
    a, b = owner_of(1, "session-a"), owner_of(2, "session-b")
    tokens = [store.put(a, bytes([i]), "x.jpg")[0] for i in range(3)]
    with pytest.raises(Exception, match="no longer available"):
        store.get(a, tokens[0])  # a session holds two at most: the oldest went
    assert store.get(a, tokens[2]).data == b"\x02"
    other = [store.put(b, b"b", "y.jpg")[0] for _ in range(2)]
    assert store.get(b, other[1]).data == b"b"
    with pytest.raises(Exception, match="no longer available"):
        store.get(a, tokens[1])  # the server holds three: the oldest of all went
    with pytest.raises(Exception, match="no longer available"):
        store.get(a, other[1])  # never another session's


def test_a_case_opened_through_the_person_sought_fields(served: Served) -> None:
    srv = served
    sup = web_client(srv, "sup")
    form = {
        "csrf": csrf_of(sup.get("/cases").text),
        "number": "FORM-3",
        "offence": "robbery",
        "incident_date": "2026-02-01",
        "description": "a break-in",
        "sex": "M",
        "age_from": "30",
        "age_to": "40",
        "height_from": "170",
        "height_to": "185",
        "build": "slim",
        "hair": "short, black",
        "marks": "tattoo on the left hand",
        "officer": "Det. Rivera",
        "authority": "warrant 26-300",
    }
    r = sup.post("/cases", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    case = srv.get("sup", "/api/cases/FORM-3").json()["case"]
    assert case["attributes"] == {
        "sex": "M",
        "age": "30-40",
        "height": "170-185 cm",
        "build": "slim",
        "hair": "short, black",
        "marks": "tattoo on the left hand",
    }
    shown = sup.get("/cases/FORM-3").text
    assert "sex: male" in shown and "marks, scars or tattoos: tattoo on the left hand" in shown
    for bad in ({"age_from": "40", "age_to": "30"}, {"age_from": ""}, {"build": "huge"}):
        case_form = {**form, "number": "FORM-4", "csrf": csrf_of(sup.get("/cases").text)}
        r = sup.post("/cases", data={**case_form, **bad}, follow_redirects=False)
        assert r.status_code == 400, bad
    assert srv.get("sup", "/api/cases/FORM-4").status_code == 404


def test_held_store_is_bounded_in_bytes() -> None:
    store = HeldUploads(total_bytes=10)
    a = owner_of(1, "session-a")
    b = owner_of(2, "session-b")
    first = store.put(a, b"12345678", "x.jpg")[0]
    second = store.put(b, b"1234", "y.jpg")[0]  # 8 + 4 > 10: the oldest goes
    with pytest.raises(Exception, match="no longer available"):
        store.get(a, first)
    assert store.get(b, second).data == b"1234"


def test_a_large_probe_is_previewed_reduced_with_its_own_size_given(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preview's image is at most PREVIEW_SIDE px a side (here lowered to 64 for a
    250 x 250 probe: reduced by 4); its width and height stay the probe's, which a dragged
    crop counts in, and the faces are outlined on the reduced image."""
    import base64
    import io

    from PIL import Image

    from leadguard.services import files

    monkeypatch.setattr(files, "PREVIEW_SIDE", 64)
    srv, number = served, "FORM-SMALL"
    _case(srv, number)
    data = srv.probes[1][0].read_bytes()
    full = Image.open(io.BytesIO(data))
    pv = _preview(web_client(srv, "ex1"), number, data)
    assert pv.status_code == 200, pv.text
    m = re.search(r'src="data:image/png;base64,([^"]+)" width="(\d+)" height="(\d+)"', pv.text)
    assert m is not None
    shown = Image.open(io.BytesIO(base64.b64decode(m.group(1))))
    factor = -(-max(full.size) // 64)
    assert shown.size == (-(-full.width // factor), -(-full.height // factor))
    assert (int(m.group(2)), int(m.group(3))) == full.size
    assert 'class="cropper"' in pv.text
