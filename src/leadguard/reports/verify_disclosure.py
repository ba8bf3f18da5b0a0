#!/usr/bin/env python3
"""Check a LeadGuard disclosure packet without LeadGuard: Python's standard library only.

    python3 verify_disclosure.py PACKET.zip

1. The zip itself: every name once, relative, with no ``..`` part, no data in a folder
   entry (two copies of one name let a reader see another file than the one checked).
2. Every file listed in MANIFEST.sha256 is in the packet with that SHA-256, and every file
   in the packet (other than the manifest) is listed.
3. The case's audit trail (audit/trail.jsonl): each entry's hash is SHA-256 over the
   previous entry's hash followed by the JSON text of [seq, at, actor, action, object,
   details] (keys sorted, no spaces, UTF-8); entries with consecutive sequence numbers are
   linked (an entry's prev_hash is the hash of the one before). An entry sealed under blind
   review (``"sealed": true``, its details only the sealing notice) carries its hashes but
   not its content: it is checked for its links only.
4. The packet's own entry, the trail's last (action "case.packet", written in the chain as
   the packet was made): it names every other file but the trail, audit/chain.json and the
   manifest by its SHA-256, and the trail before it by a digest of each entry's number,
   hash and sealing. So an edited file, and an entry removed, added, sealed or rewritten
   (its hash recomputed) in the trail, are caught even with the manifest made to agree.
   audit/chain.json's head must be that entry.

What a packet alone cannot show: a forger who rewrites the files, the manifest, the
packet's entry, its hash and the head together. Compare the head hash printed here with
`leadguard audit verify` on the system (or a signed anchor), and run the copy of this
script from LeadGuard's own source (src/leadguard/reports/verify_disclosure.py of the
version in system/versions.json): the copy in the packet is named by the packet's entry,
but a forged packet can carry a forged script.

Prints what it checked; exits 0 when everything holds, 1 otherwise.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from pathlib import Path, PurePosixPath

MANIFEST = "MANIFEST.sha256"
TRAIL = "audit/trail.jsonl"
CHAIN = "audit/chain.json"
PACKET_ACTION = "case.packet"
AFTER_THE_ENTRY = {TRAIL, CHAIN, MANIFEST}
FIELDS = {"seq": int, "at": str, "action": str, "object": str, "prev_hash": str, "hash": str}


class Malformed(Exception):
    """A packet that cannot be read as one: said as a FAILED line, never a traceback."""


def entry_hash(e: dict) -> str:
    body = json.dumps(
        [e["seq"], e["at"], e["actor"], e["action"], e["object"], e["details"]],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256((e["prev_hash"] + body).encode()).hexdigest()


def trail_digest(entries: list[dict]) -> str:
    """SHA-256 over ``seq hash sealed`` lines, as LeadGuard records it in the packet entry."""
    text = "".join(f"{e['seq']} {e['hash']} {e.get('sealed') is True}\n" for e in entries)
    return hashlib.sha256(text.encode()).hexdigest()


def text_of(files: dict[str, bytes], name: str) -> str:
    try:
        return files[name].decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed(f"{name}: not UTF-8 text") from None


def check_manifest(files: dict[str, bytes]) -> list[str]:
    problems = []
    if MANIFEST not in files:
        return [f"{MANIFEST} is missing"]
    listed = {}
    for n, line in enumerate(text_of(files, MANIFEST).splitlines(), start=1):
        if line.strip():
            digest, sep, name = line.partition("  ")
            if not sep or len(digest) != 64:
                raise Malformed(f"{MANIFEST} line {n}: not 'SHA-256  name'")
            listed[name] = digest
    for name, digest in sorted(listed.items()):
        if name not in files:
            problems.append(f"{name}: listed in the manifest but not in the packet")
        elif hashlib.sha256(files[name]).hexdigest() != digest:
            problems.append(f"{name}: SHA-256 differs from the manifest (changed)")
    for name in sorted(set(files) - set(listed) - {MANIFEST}):
        problems.append(f"{name}: in the packet but not in the manifest (added)")
    return problems


def read_trail(files: dict[str, bytes]) -> list[dict]:
    if TRAIL not in files:
        raise Malformed(f"{TRAIL} is missing")
    entries = []
    for n, line in enumerate(text_of(files, TRAIL).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except json.JSONDecodeError as exc:
            raise Malformed(f"{TRAIL} line {n}: not JSON ({exc.msg})") from None
        if not isinstance(e, dict) or "details" not in e or "actor" not in e:
            raise Malformed(f"{TRAIL} line {n}: not an audit entry")
        for key, kind in FIELDS.items():
            if not isinstance(e.get(key), kind) or isinstance(e.get(key), bool):
                raise Malformed(f"{TRAIL} line {n}: {key} missing or not a {kind.__name__}")
        entries.append(e)
    return entries


def sealed_ok(e: dict) -> bool:
    """A sealed entry as LeadGuard writes one: ``sealed`` exactly true, its details only the
    sealing notice; never the packet's own entry."""
    d = e["details"]
    return (
        e.get("sealed") is True
        and e["action"] != PACKET_ACTION
        and isinstance(d, dict)
        and set(d) == {"sealed"}
        and isinstance(d["sealed"], str)
    )


def check_trail(entries: list[dict]) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    gaps = sealed = 0
    prev = None
    for e in entries:
        if "sealed" in e:
            if not sealed_ok(e):
                problems.append(f"audit entry {e['seq']}: marked sealed, not as LeadGuard seals")
            sealed += 1
        elif entry_hash(e) != e["hash"]:
            problems.append(f"audit entry {e['seq']}: its hash does not match its content")
        if prev is not None:
            if e["seq"] <= prev["seq"]:
                problems.append(f"audit entry {e['seq']}: out of order after {prev['seq']}")
            elif e["seq"] == prev["seq"] + 1 and e["prev_hash"] != prev["hash"]:
                problems.append(f"audit entry {e['seq']}: not linked to entry {prev['seq']}")
            elif e["seq"] > prev["seq"] + 1:
                gaps += 1
        prev = e
    notes = [
        f"{len(entries)} audit entries checked; {gaps} gap(s) in the sequence hold other "
        f"cases' entries; {sealed} sealed under blind review (links checked, content not "
        "shown)"
    ]
    return problems, notes


def check_packet_entry(files: dict[str, bytes], entries: list[dict]) -> tuple[list[str], str]:
    """The trail's last entry is the packet's own: the head, naming every file and the
    trail before it."""
    if not entries or entries[-1]["action"] != PACKET_ACTION:
        return [
            f"the trail does not end with the packet's own {PACKET_ACTION} entry (removed, "
            "or entries added after it; a packet made before 2026-12-04 is checked by the "
            "verify_disclosure.py it came with)"
        ], ""
    entry, before = entries[-1], entries[:-1]
    problems = []
    try:
        chain = json.loads(text_of(files, CHAIN)) if CHAIN in files else None
    except json.JSONDecodeError:
        chain = None
    if not isinstance(chain, dict):
        problems.append(f"{CHAIN}: missing or not a JSON object")
    elif chain.get("head_seq") != entry["seq"] or chain.get("head_hash") != entry["hash"]:
        problems.append(
            f"{CHAIN}: the head (entry {chain.get('head_seq')}) is not the packet's own "
            f"entry {entry['seq']}"
        )
    details = entry["details"] if isinstance(entry["details"], dict) else {}
    listed = details.get("files")
    trail = details.get("trail")
    if not isinstance(listed, dict) or not isinstance(trail, dict):
        return [*problems, f"audit entry {entry['seq']}: names no files or no trail"], ""
    seq = entry["seq"]
    if trail.get("entries") != len(before) or trail.get("sha256") != trail_digest(before):
        problems.append(
            f"audit/trail.jsonl: the entries before {seq} are not the ones audit entry {seq} "
            f"names ({trail.get('entries')} recorded, {len(before)} here: an entry removed, "
            "added, sealed or rewritten)"
        )
    for name in sorted(set(files) - AFTER_THE_ENTRY):
        if name not in listed:
            problems.append(f"{name}: not named by audit entry {seq} (added)")
        elif hashlib.sha256(files[name]).hexdigest() != listed[name]:
            problems.append(f"{name}: SHA-256 differs from audit entry {seq} (changed)")
    for name in sorted(set(listed) - set(files)):
        problems.append(f"{name}: named by audit entry {seq} but not in the packet")
    note = (
        f"{len(listed)} files and the {len(before)} entries before it named by the packet's "
        f"audit entry {seq}, the chain's head at export (hash {entry['hash']}; compare with "
        "`leadguard audit verify` on the system)"
    )
    return problems, note


def read_packet(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {
            p.relative_to(path).as_posix(): p.read_bytes()
            for p in sorted(path.rglob("*"))
            if p.is_file()
        }
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise Malformed(f"{path}: not a readable zip file ({exc})") from None
    with z:
        files: dict[str, bytes] = {}
        for info in z.infolist():
            name = info.filename
            parts = PurePosixPath(name).parts
            if name.startswith("/") or "\\" in name or ".." in parts:
                raise Malformed(f"{name!r}: not a plain relative name")
            if name in files:
                raise Malformed(f"{name}: twice in the zip (a reader may see the other copy)")
            if info.is_dir():
                if info.file_size:
                    raise Malformed(f"{name}: a folder entry that holds data")
                continue
            files[name] = z.read(info)
        return files


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: verify_disclosure.py PACKET.zip (or its unpacked folder)\n")
        return 2
    out = sys.stdout
    try:
        files = read_packet(Path(argv[0]))
        problems = check_manifest(files)
        entries = read_trail(files)
        trail_problems, notes = check_trail(entries)
        packet_problems, note = check_packet_entry(files, entries)
        problems += trail_problems + packet_problems
        notes += [note] if note else []
    except (Malformed, OSError) as exc:
        out.write(f"FAILED: {exc}\n1 problem(s)\n")
        return 1
    out.write(f"{len(files) - 1} files checked against {MANIFEST}\n")
    for n in notes:
        out.write(n + "\n")
    for p in problems:
        out.write(f"FAILED: {p}\n")
    out.write("packet verified\n" if not problems else f"{len(problems)} problem(s)\n")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
