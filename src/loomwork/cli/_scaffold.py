"""``loomwork new``: copy the project template, filling in the name and an admin token.

The template lives in ``loomwork/templates/project``; every file ends in ``.tmpl`` (so
tools never mistake it for part of the framework) and may contain ``{{name}}`` and
``{{admin_token}}``. ``gitignore.tmpl`` becomes ``.gitignore``.
"""

from __future__ import annotations

import re
import secrets
from importlib.resources import files
from pathlib import Path

from loomwork.errors import ConflictError, ValidationError

__all__ = ["TEMPLATE", "scaffold"]

TEMPLATE = Path(str(files("loomwork") / "templates" / "project"))
_SUFFIX = ".tmpl"
_RENAMES = {"gitignore": ".gitignore"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def scaffold(target: Path, name: str | None = None) -> list[Path]:
    """Create a project in ``target`` (which must be missing or empty); returns the files.

    Raises :class:`ConflictError` when ``target`` has files and :class:`ValidationError`
    for a name that is not a simple identifier-like word.
    """
    target = target.resolve()
    if target.exists() and any(target.iterdir()):
        raise ConflictError(f"{target} is not empty; choose a new folder for the project")
    project_name = name or target.name
    if not _NAME.match(project_name):
        raise ValidationError(
            f"project name {project_name!r} must be letters, digits, '-', '_' or '.'",
            field="name",
        )
    values = {"name": project_name, "admin_token": secrets.token_urlsafe(24)}
    written: list[Path] = []
    for source in sorted(TEMPLATE.rglob(f"*{_SUFFIX}")):
        relative = source.relative_to(TEMPLATE)
        file_name = relative.name.removesuffix(_SUFFIX)
        destination = target / relative.parent / _RENAMES.get(file_name, file_name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        destination.write_text(text, encoding="utf-8")
        written.append(destination)
    return written
