"""``leadguard audit``: verify the chain and the records it covers, anchor its head, export."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from leadguard.cli import session
from leadguard.cli.common import WorkspaceOpt, handles_errors, open_ctx, out
from leadguard.cli.render import safe
from leadguard.core.errors import InputError
from leadguard.core.files import not_replaceable
from leadguard.storage.workspace import resolve_path

if TYPE_CHECKING:
    from leadguard.services.audit_key import KeyAdoption

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("verify")
@handles_errors
def audit_verify(
    workspace: WorkspaceOpt = None,
    anchor: Annotated[
        list[Path] | None,
        typer.Option("--anchor", help="A signed anchor file to check the log against (repeat)."),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option("--public-key", help="The anchor key's public half (KEYFILE.pub)."),
    ] = None,
    mac_key: Annotated[
        Path | None,
        typer.Option(
            "--mac-key",
            help="The audit key to check a keyed log's codes with (default: "
            "the workspace's audit_mac_key).",
        ),
    ] = None,
) -> None:
    """Check the whole hash chain (and a keyed log's authentication codes) and every
    working record its entries name, and the log against signed anchors; name each problem
    (exit 1 if any). Writes nothing."""
    from leadguard.services.audit import verify

    ctx = open_ctx(workspace, check_settings=False)  # names an edited settings file instead
    result = verify(ctx, session.actor(ctx), anchor, public_key, mac_key)
    console = out()
    _render_chain(console, result.check)
    _findings(console, result.check.keyed_note, "authentication codes", result.check.key_problems)
    _findings(console, result.check.head_note, "head receipt", result.check.head_problems)
    bad = len(result.index_problems)
    state = "[green]as recorded[/green]" if not bad else f"[red]{bad} problem(s)[/red]"
    console.print(f"index files against their recorded digests: {state}")
    for p in result.index_problems:
        console.print(f"  {safe(p)}", soft_wrap=True)
    if bad:
        console.print(
            "  (an enrollment, removal or rebuild killed between saving the index and"
            " recording its files leaves such findings: the next of them, or `leadguard"
            " index rebuild`, saves and records the files again; findings that remain after"
            " it mean the files were changed outside LeadGuard)",
            soft_wrap=True,
        )
    bad = len(result.settings_problems)
    state = "[green]as recorded[/green]" if not bad else f"[red]{bad} problem(s)[/red]"
    console.print(f"safeguard settings against the audit log: {state}")
    for p in result.settings_problems:
        console.print(f"  {safe(p)}", soft_wrap=True)
    bad = len(result.schema_problems)
    state = "[green]no downgrade[/green]" if not bad else f"[red]{bad} problem(s)[/red]"
    console.print(f"schema revision history: {state}")
    for p in result.schema_problems:
        console.print(f"  {safe(p)}", soft_wrap=True)
    for r in result.anchors:
        a = r.anchor
        state = "[green]ok[/green]" if r.ok else "[red]FAILED[/red]"
        console.print(
            f"anchor entry {a.seq} ({a.at}, key {a.key_id}, checked with {a.key_source}): "
            f"{state}: {safe(r.reason)}",
            soft_wrap=True,
        )
        if r.ok and r.after:
            console.print(f"  {r.after} entries after it are covered by the chain only")
    if not anchor:
        from leadguard.audit.head import CHECKED

        receipt = result.check.head_note.startswith(CHECKED)
        console.print(
            (
                "no anchor given: entries that other accounts wrote, cut off the end, and a "
                "rewrite by someone who holds the key are"
                if receipt
                else "no anchor given: a log cut off at the end or rewritten from some entry on is"
            )
            + " only caught against a signed anchor (leadguard audit anchor)",
            soft_wrap=True,
        )
    if not result.intact:
        raise typer.Exit(1)


def _findings(console: Console, note: str, name: str, problems: tuple[str, ...]) -> None:
    """A check's note (or its name where problems have none), in red with their count if
    there are any, then each problem."""
    if not (note or problems):
        return
    colour = "red" if problems else "default"
    state = f": {len(problems)} problem(s)" if problems else ""
    console.print(f"[{colour}]{safe(note or name)}{state}[/{colour}]", soft_wrap=True)
    for p in problems:
        console.print(f"  {safe(p)}", soft_wrap=True)


def _render_chain(console: Console, chain: Any) -> None:
    if chain.broken_at is None and (chain.key_problems or chain.head_problems):
        console.print(
            f"[red]audit log NOT proven[/red]: its hash chain holds ({chain.entries} entries; "
            f"head entry {chain.head_seq or '-'}), but a chain cut off at its end, or with "
            "entries forged and their hashes recomputed, would hold too: see the "
            "authentication codes and the head receipt below",
            soft_wrap=True,
        )
    elif chain.broken_at is None:
        console.print(
            f"audit log intact: {chain.entries} entries; head entry {chain.head_seq or '-'} "
            f"hash {chain.head_hash or '-'}",
            soft_wrap=True,
        )
    else:
        console.print(
            f"[red]audit log BROKEN[/red] at entry {chain.broken_at}: {safe(chain.reason)}",
            soft_wrap=True,
        )
    bad = len(chain.record_problems)
    state = "[green]unchanged[/green]" if not bad else f"[red]{bad} problem(s)[/red]"
    console.print(f"working records named by entries: {chain.records_checked} checked, {state}")
    for p in chain.record_problems:
        console.print(f"  {safe(p)}", soft_wrap=True)


@audit_app.command("keygen")
@handles_errors
def audit_keygen(
    out_file: Annotated[Path, typer.Option("--out", help="Private key file to create.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Create an Ed25519 signing key for anchors (private key mode 0600, public key beside
    it as KEYFILE.pub). Keep it outside the workspace; refused inside it."""
    from leadguard.audit import anchor as anchors

    pub, kid = anchors.keygen(out_file, resolve_path(workspace))
    out().print(f"wrote private key {out_file} (mode 0600) and public key {pub}; key id {kid}")


@audit_app.command("key")
@handles_errors
def audit_key(
    key: Annotated[
        Path,
        typer.Option(
            "--key",
            help="The audit key's file: an absolute path outside the workspace "
            "(created, mode 0600, if it does not exist).",
        ),
    ],
    workspace: WorkspaceOpt = None,
) -> None:
    """Key the audit log: from now on every entry gets an authentication code under a
    secret key kept outside the database, so that whoever can write the database but not
    read the key cannot forge or recompute entries unseen. Admin only; never replaced."""
    from leadguard.services.audit_key import adopt_key

    ctx = open_ctx(workspace)
    keyed_message(out(), adopt_key(ctx, session.actor(ctx), key))


def keyed_message(console: Console, done: KeyAdoption, restart: bool = True) -> None:
    made = "created" if done.created else "read"
    again = " (restart a running `leadguard serve`)" if restart else ""
    console.print(
        f"audit log keyed from entry {done.seq} with key {done.key_id} ({made} "
        f"{safe(done.key_file)}); every process that writes to this workspace needs to read "
        f"that file{again}. Keep a copy where an auditor can reach it, and note the key "
        "id: without the key nothing can be written to the workspace",
        soft_wrap=True,
    )
    if done.earlier:
        console.print(
            f"[red]warning[/red]: {safe(done.earlier)}; `leadguard audit verify` names it "
            "until an admin records why: `leadguard audit accept-restore --reason TEXT`",
            soft_wrap=True,
        )


def init_keying(console: Console, done: KeyAdoption | None, named: Path | None, off: bool) -> None:
    """What ``leadguard init`` did to the audit log's key."""
    if done is not None:
        keyed_message(console, done, restart=False)
    elif named is not None:
        console.print(f"audit log keyed already (key file {safe(named)})", soft_wrap=True)
    else:
        why = "--no-audit-key" if off else "the workspace has accounts"
        console.print(
            f"audit log NOT keyed ({why}): whoever can write the database can append or "
            "recompute entries that `audit verify` cannot tell from real ones; an admin "
            "keys it with `leadguard audit key --key FILE` (docs/audit.md)",
            soft_wrap=True,
        )


@audit_app.command("accept-restore")
@handles_errors
def audit_accept_restore(
    reason: Annotated[
        str, typer.Option("--reason", help="Why the log ends where it does (which backup).")
    ],
    workspace: WorkspaceOpt = None,
) -> None:
    """Accept a keyed log that ends before, or differs at, the entry this account last
    wrote (its head receipt): after the database was restored from a backup. Admin only;
    recorded with the reason and what the receipt held."""
    from leadguard.services.audit_key import accept_restore

    ctx = open_ctx(workspace)
    done = accept_restore(ctx, session.actor(ctx), reason)
    out().print(
        f"accepted in audit entry {done.seq}: the log as it stands, where {safe(done.receipt)}",
        soft_wrap=True,
    )


@audit_app.command("anchor")
@handles_errors
def audit_anchor(
    key: Annotated[Path, typer.Option("--key", help="Private key (from audit keygen).")],
    out_file: Annotated[Path, typer.Option("--out", help="Anchor file to write.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Write a signed receipt of the log's head (entry number, hash, time, workspace) to a
    place outside the workspace; later `audit verify --anchor FILE` proves the log was not
    cut off or rewritten up to it."""
    from leadguard.services.audit import anchor

    ctx = open_ctx(workspace)
    signed = anchor(ctx, session.actor(ctx), key, out_file)
    a = signed["anchor"]
    out().print(
        f"anchored entry {a['seq']} (hash {a['hash']}) with key {signed['key_id']} in {out_file}",
        soft_wrap=True,
    )


@audit_app.command("export")
@handles_errors
def audit_export(
    out_file: Annotated[Path, typer.Option("--out", help="JSON Lines file to write.")],
    case: Annotated[str | None, typer.Argument(help="A case number: its whole trail.")] = None,
    workspace: WorkspaceOpt = None,
    object_prefix: Annotated[
        str,
        typer.Option(
            "--object",
            help="Only entries of this object and its parts (subject:A: subject:A and "
            "subject:A/..., never subject:AB); a kind ending in ':' selects all of it.",
        ),
    ] = "",
) -> None:
    """Write the audit trail (entries with their chain hashes) for disclosure: a case's
    whole trail (exactly that case number), or every entry (of one object)."""
    from leadguard.services.audit import trail

    if out_file.is_dir():
        raise InputError(f"--out {out_file} is a folder; name the JSON Lines file to write")
    if why := not_replaceable(out_file):
        raise InputError(f"--out {out_file} {why}")
    if not out_file.parent.is_dir():
        raise InputError(f"--out {out_file}: folder {out_file.parent} does not exist")
    ctx = open_ctx(workspace)
    tmp = out_file.with_name(out_file.name + ".tmp")
    try:
        fh = tmp.open("w")  # before the export is logged: a place we cannot write stops here
    except OSError as exc:
        raise InputError(f"--out {out_file} cannot be written ({exc.strerror})") from exc
    try:
        with fh:
            rows = trail(ctx, session.actor(ctx), case, object_prefix)
            for entry in rows:
                fh.write(json.dumps(entry, sort_keys=True) + "\n")
        os.replace(tmp, out_file)
    finally:
        tmp.unlink(missing_ok=True)
    out().print(f"wrote {len(rows)} audit entries to {out_file}")


@audit_app.command("document")
@handles_errors
def audit_document(
    files: Annotated[list[Path], typer.Argument(help="Reports or packet files to check.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Check written documents (lead and transparency reports, the files of a disclosure
    packet) against the audit log: each is named with the entry that recorded its SHA-256
    when LeadGuard wrote it, or as recorded by none (exit 1): changed since, or not a
    document of this workspace. `audit verify` proves the entries themselves."""
    from leadguard.services.audit import documents

    ctx = open_ctx(workspace)
    console = out()
    unknown = 0
    for d in documents(ctx, session.actor(ctx), files):
        if d.entry is not None:
            console.print(
                f"{safe(d.path)}: [green]as written[/green]: {d.action} in audit entry "
                f"{d.entry} ({safe(d.actor)}, {d.at[:19]}), as {safe(d.recorded_as)}",
                soft_wrap=True,
            )
            continue
        unknown += 1
        why = d.problem or (
            f"SHA-256 {d.sha256[:16]}... is recorded by no audit entry: changed since it "
            "was written, or not a document of this workspace"
        )
        console.print(f"{safe(d.path)}: [red]NOT RECORDED[/red]: {safe(why)}", soft_wrap=True)
    if unknown:
        raise typer.Exit(1)
