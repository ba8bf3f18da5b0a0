"""Photo-array commands (docs/reports.md, lineup guardrails): parse, call one service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from leadguard.cli.common import WorkspaceOpt, as_user, out, read_json
from leadguard.services.context import Actor, Context


@as_user("lead.lineup", "lead:{lead_id}")
def array(
    ctx: Context,
    actor: Actor,
    lead_id: Annotated[int, typer.Argument(help="Lead id.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the array and sealed key.")],
    sex: Annotated[str, typer.Option(help="The witness's description: sex.")] = "",
    race: Annotated[str, typer.Option(help="The witness's description: race.")] = "",
    fillers: Annotated[int, typer.Option(help="Fillers drawn by the description.")] = 5,
    workspace: WorkspaceOpt = None,
) -> None:
    """Build a photo array for a corroborated lead: fillers by the witness's description;
    refused when the suspect is the face most like the probe."""
    from leadguard.services.casework.lineup import build_array

    description = {k: v for k, v in (("sex", sex), ("race", race)) if v}
    made = build_array(ctx, actor, lead_id, description, out_dir, fillers)
    console = out()
    console.print(f"array of {len(made.members)} photos in {made.folder} (positions only)")
    console.print(f"sealed key (suspect's position; not for the administrator): {made.key_file}")


@as_user("lead.lineup", "lead:{lead_id}")
def administer(
    ctx: Context,
    actor: Actor,
    lead_id: Annotated[int, typer.Argument(help="Lead id.")],
    administrator: Annotated[str, typer.Option(help="Who showed the array (blind).")],
    instruction: Annotated[str, typer.Option(help="The instruction given, verbatim.")],
    file: Annotated[
        Path, typer.Option("--file", help="JSON list: position, decision, confidence.")
    ],
    witness: Annotated[str, typer.Option(help="The witness (a name or pseudonym).")],
    witness_type: Annotated[
        str,
        typer.Option(
            "--witness-type",
            help="in_person, same_recording_only (refused), knows_person or other",
        ),
    ],
    witness_note: Annotated[
        str, typer.Option(help="How the witness saw the person (needed for 'other').")
    ] = "",
    workspace: WorkspaceOpt = None,
) -> None:
    """Record the double-blind, sequential showing of the lead's latest array."""
    from leadguard.services.casework.lineup import record_administration

    decisions = read_json(file, "decisions")
    record_administration(
        ctx, actor, lead_id, administrator, instruction, decisions, witness, witness_type,
        witness_note,
    )  # fmt: skip
    out().print(f"lineup administration recorded for lead {lead_id} (witness: {witness_type})")


def register(lead_app: typer.Typer) -> None:
    lead_app.command("array")(array)
    lead_app.command("administer")(administer)
