"""Workspace settings changed by an admin through an audited command (old and new value)."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from leadguard.audit import log as audit
from leadguard.core.config import (
    FILE_ONLY,
    SAFEGUARDS,
    SETTINGS_FILE,
    Settings,
    read_settings_file,
)
from leadguard.core.errors import InputError
from leadguard.services import settings_record
from leadguard.services.authz import authorize
from leadguard.services.context import Actor, Context, current_user, refusals


@dataclass(frozen=True)
class SettingChange:
    key: str
    old: Any
    new: Any
    safeguard: bool


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):  # a TOML array of strings
        return json.dumps([str(v) for v in value])
    return json.dumps(str(value))


def set_setting(ctx: Context, actor: Actor | None, key: str, value: str) -> SettingChange:
    """Write ``key = value`` to the workspace's settings file (validated first). Once the
    workspace has accounts only an admin's login may; before its first account (an
    unprotected workspace, being set up) no login is needed: the change is audited all
    the same."""
    with refusals(ctx, actor, "settings.set", f"settings:{key}"):
        if key not in Settings.model_fields:
            names = ", ".join(sorted(Settings.model_fields))
            raise InputError(f"{key!r} is not a setting ({names})")
        if key == "audit_mac_key":
            raise InputError(
                "audit_mac_key: set by `leadguard audit key --key FILE`, which records the "
                "key's adoption in the log; a key is never replaced"
            )
        if key in FILE_ONLY:  # its audit entry would land in the database being left
            raise InputError(
                f"{key}: a workspace's database is not switched by a setting; move the data "
                "and edit the settings file (docs/postgres.md)"
            )
        if actor is not None or ctx.has_accounts():
            with ctx.session() as s:
                authorize(current_user(s, actor), "settings.set")
        path: Path = ctx.root / SETTINGS_FILE
        current = read_settings_file(path)
        unset = not value.strip() and Settings.model_fields[key].default is None
        try:  # "" for a file setting whose default is none: back to the shipped default
            new = None if unset else getattr(Settings(**{**current, key: value}), key)
        except ValidationError as exc:
            why = "; ".join(e["msg"] for e in exc.errors())
            raise InputError(f"{key} = {value!r}: not a valid value ({why})") from exc
        _check_value(ctx, key, new)
        old = current.get(key, Settings.model_fields[key].default)
        text = edited_file(path, key, new, unset)
        with ctx.session() as s:
            change = SettingChange(key, old, new, key in SAFEGUARDS)
            details: dict[str, Any] = {"old": old, "new": new, "safeguard": change.safeguard}
            if key == "quality_policy":  # the file as set (settings_record checks it)
                digest = settings_record.policy_digest(new, ctx.root)
                details[settings_record.POLICY_DIGEST] = digest
            audit.append(
                s,
                "settings.set",
                f"settings:{key}",
                details,
                actor=actor.username if actor is not None else None,
            )
            path.write_text(text)  # inside the transaction: a failed write rolls the entry back
        return change


def edited_file(path: Path, key: str, new: Any, unset: bool = False) -> str:
    """The settings file's text with ``key = new`` (or without the key: ``unset``), refused
    where the line-by-line edit cannot place it safely (``_check_written``)."""
    text = path.read_text() if path.exists() else "[leadguard]\n"
    line = f"{key} = {_render(new)}"
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=.*$", re.MULTILINE)
    if unset:
        text = re.sub(rf"^[ \t]*{re.escape(key)}\s*=.*\n?", "", text, flags=re.MULTILINE)
    elif pattern.search(text):
        text = pattern.sub(line, text, count=1)
    elif "[leadguard]" in text:
        text = text.replace("[leadguard]", f"[leadguard]\n{line}", 1)
    else:
        text = f"{line}\n{text}"
    _check_written(text, key, new, line)
    return text


def _check_value(ctx: Context, key: str, new: Any) -> None:
    """A policy file named by ``quality_policy`` or ``casework_policy`` must be one that
    parses (before, ``/etc/passwd`` was accepted and every search then failed); each of
    ``source_roots`` an absolute path of a folder, not ``/``."""
    if key == "source_roots":
        for root in new:
            if not Path(root).is_absolute() or not Path(root).is_dir():
                raise InputError(f"source_roots: {str(root)!r} is not an absolute path of a folder")
            if Path(root).resolve() == Path(Path(root).anchor):
                raise InputError("source_roots: '/' would let a manifest point anywhere")
        return
    if key not in ("quality_policy", "casework_policy") or new is None:
        return
    from leadguard.core.errors import LeadGuardError
    from leadguard.quality.gate import load_policy
    from leadguard.services.casework.policy import load_casework_policy

    file = Path(new) if Path(new).is_absolute() else ctx.root / new
    if not file.is_file():
        raise InputError(f"{key} = {str(new)!r}: not a file")
    try:
        if key == "quality_policy":
            load_policy(file, ctx.settings.face_model)
        else:
            load_casework_policy(file)
    except LeadGuardError as exc:
        raise InputError(f"{key} = {str(new)!r}: not a usable policy file ({exc})") from None


def _check_written(text: str, key: str, new: Any, line: str) -> None:
    """Refuse to write a settings file that would not parse, or in which ``key`` would not
    read as ``new`` (a quoted key, an inline table, a comment naming ``[leadguard]``: the
    line-by-line edit cannot place the value safely there)."""
    try:
        data = tomllib.loads(text)
        section = data.get("leadguard", data)
        got = getattr(Settings(**section), key) if isinstance(section, dict) else None
        why = None if got == new else f"{key} would still read {got!r}"
    except (tomllib.TOMLDecodeError, ValidationError, TypeError) as exc:
        why = f"the file would not parse ({str(exc).splitlines()[0]})"
    if why is not None:
        raise InputError(
            f"{SETTINGS_FILE}: its layout is one `settings set` cannot edit safely: {why}; "
            f"write `{line}` under [leadguard] by hand, then run this command again to "
            "record it"
        )


@dataclass(frozen=True)
class PolicyAdoption:
    source: str
    sha256: str
    previous_sha256: str | None
    seq: int


def _policy_path(ctx: Context) -> Path | None:
    path = ctx.settings.casework_policy
    if path is not None and not path.is_absolute():
        path = ctx.root / path
    return path


def adopt_policy(ctx: Context, actor: Actor) -> PolicyAdoption:
    """Adopt the casework policy file in force (admin): validated, then recorded in the
    audit log with its digest and content; from then on a file with another digest is
    refused at use until adopted (``casework/adoption.py``)."""
    from leadguard.services.casework import adoption
    from leadguard.services.casework.policy import parse_casework_policy, read_policy_file

    with refusals(ctx, actor, "settings.adopt_policy", adoption.OBJECT):
        with ctx.session() as s:
            authorize(current_user(s, actor), "settings.set")
        source, data = read_policy_file(_policy_path(ctx))
        pol = parse_casework_policy(source, data)  # an invalid file is never adopted
        with ctx.session() as s:
            entry = adoption.record(s, pol, data, actor.username)
            return PolicyAdoption(
                pol.source, pol.sha256, entry.details.get("previous_sha256"), entry.seq
            )


def adopt_initial_policy(ctx: Context) -> PolicyAdoption | None:
    """At ``leadguard init``: adopt the policy the new workspace starts with (the shipped
    one unless its settings name a file), by the operating-system user creating it. Does
    nothing where a policy was already adopted."""
    from leadguard.services.casework import adoption
    from leadguard.services.casework.policy import parse_casework_policy, read_policy_file

    source, data = read_policy_file(_policy_path(ctx))
    pol = parse_casework_policy(source, data)
    with ctx.session() as s:
        if adoption.last_adoption(s) is not None:
            return None
        entry = adoption.record(s, pol, data, audit.current_actor())
        return PolicyAdoption(pol.source, pol.sha256, None, entry.seq)
