#!/usr/bin/env python3
"""Check a LeadGuard disclosure packet without LeadGuard: Python's standard library only.

    python3 verify_disclosure.py PACKET.zip

1. Every file listed in MANIFEST.sha256 is in the packet with that SHA-256, and every file
   in the packet (other than the manifest) is listed.
2. The case's audit trail (audit/trail.jsonl): each entry's hash is SHA-256 over the
   previous entry's hash followed by the JSON text of [seq, at, actor, action, object,
   details] (keys sorted, no spaces, UTF-8); entries with consecutive sequence numbers are
   linked (an entry's prev_hash is the hash of the one before). Gaps in the sequence are
   entries of other cases, not part of this packet; the newest entry's hash can be compared
   with the head hash in audit/chain.json and with `leadguard audit verify` on the live
   system. An entry marked "sealed" (a search still under blind review when the packet was
   made) carries its hashes but not its content: it is checked for its links only.
3. The packet's own entry in that trail (action "case.packet", written as the packet was
   made) names every other file by its SHA-256: each must agree, so a file edited with the
   manifest made to agree is still caught unless the trail and its head are forged too
   (which comparing the head hash with the live system, or an anchor, reveals).

Prints what it checked; exits 0 when everything holds, 1 otherwise.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from pathlib import Path

MANIFEST = "MANIFEST.sha256"
PACKET_ACTION = "case.packet"
AFTER_THE_ENTRY = {"audit/trail.jsonl", "audit/chain.json", MANIFEST}


def entry_hash(e: dict) -> str:
    body = json.dumps(
        [e["seq"], e["at"], e["actor"], e["action"], e["object"], e["details"]],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256((e["prev_hash"] + body).encode()).hexdigest()


def check_manifest(files: dict[str, bytes]) -> list[str]:
    problems = []
    if MANIFEST not in files:
        return [f"{MANIFEST} is missing"]
    listed = {}
    for line in files[MANIFEST].decode("utf-8").splitlines():
        if line.strip():
            digest, name = line.split("  ", 1)
            listed[name] = digest
    for name, digest in sorted(listed.items()):
        if name not in files:
            problems.append(f"{name}: listed in the manifest but not in the packet")
        elif hashlib.sha256(files[name]).hexdigest() != digest:
            problems.append(f"{name}: SHA-256 differs from the manifest (changed)")
    for name in sorted(set(files) - set(listed) - {MANIFEST}):
        problems.append(f"{name}: in the packet but not in the manifest (added)")
    return problems


def check_trail(files: dict[str, bytes]) -> tuple[list[str], list[str]]:
    problems: list[str] = []
    notes: list[str] = []
    raw = files.get("audit/trail.jsonl")
    if raw is None:
        return ["audit/trail.jsonl is missing"], notes
    entries = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    gaps = sealed = 0
    prev = None
    for e in entries:
        if e.get("sealed"):
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
    notes.append(
        f"{len(entries)} audit entries checked; {gaps} gap(s) in the sequence hold other "
        f"cases' entries; {sealed} sealed under blind review (links checked, content not "
        "shown)"
    )
    chain = json.loads(files.get("audit/chain.json", b"{}").decode("utf-8") or "{}")
    last = entries[-1] if entries else None
    if last and chain.get("head_seq") == last["seq"] and chain.get("head_hash") != last["hash"]:
        problems.append("audit/chain.json: head hash differs from the newest entry's")
    if chain.get("head_hash"):
        notes.append(
            f"chain head at export: entry {chain.get('head_seq')}, hash {chain['head_hash']} "
            "(compare with `leadguard audit verify` on the system)"
        )
    return problems, notes


def check_contents(files: dict[str, bytes]) -> tuple[list[str], list[str]]:
    """Every file against the trail's newest "case.packet" entry (an older packet has none)."""
    raw = files.get("audit/trail.jsonl", b"")
    entries = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
    named = [e for e in entries if e.get("action") == PACKET_ACTION and not e.get("sealed")]
    if not named:
        return [], [
            f"no {PACKET_ACTION} entry in the trail (a packet made before packets named their "
            "files): the files are checked against the manifest only"
        ]
    entry = named[-1]
    listed = entry["details"].get("files") or {}
    problems = []
    for name in sorted(set(files) - AFTER_THE_ENTRY):
        if name not in listed:
            problems.append(f"{name}: not named by audit entry {entry['seq']} (added)")
        elif hashlib.sha256(files[name]).hexdigest() != listed[name]:
            problems.append(f"{name}: SHA-256 differs from audit entry {entry['seq']} (changed)")
    for name in sorted(set(listed) - set(files)):
        problems.append(f"{name}: named by audit entry {entry['seq']} but not in the packet")
    note = (
        f"{len(listed)} files named by the packet's audit entry {entry['seq']} "
        f"(hash {entry['hash']}; compare with `leadguard audit verify` on the system)"
    )
    return problems, [note]


def read_packet(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {
            p.relative_to(path).as_posix(): p.read_bytes()
            for p in sorted(path.rglob("*"))
            if p.is_file()
        }
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if not n.endswith("/")}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: verify_disclosure.py PACKET.zip (or its unpacked folder)\n")
        return 2
    files = read_packet(Path(argv[0]))
    problems = check_manifest(files)
    trail_problems, notes = check_trail(files)
    problems += trail_problems
    if not trail_problems:  # a trail that does not hold proves nothing about the files
        content_problems, content_notes = check_contents(files)
        problems += content_problems
        notes += content_notes
    out = sys.stdout
    out.write(f"{len(files) - 1} files checked against {MANIFEST}\n")
    for n in notes:
        out.write(n + "\n")
    for p in problems:
        out.write(f"FAILED: {p}\n")
    out.write("packet verified\n" if not problems else f"{len(problems)} problem(s)\n")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
