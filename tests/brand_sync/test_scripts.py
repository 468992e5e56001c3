"""The operator scripts (``loomwork exec scripts/...``): dry run, run now, quarantine list."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType

import pytest

from .conftest import App
from .helpers import seed, set_faults
from .project import PROJECT, project


def script(name: str) -> ModuleType:
    path = PROJECT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"brand_sync_script_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_dry_run_then_sync_then_quarantine_list(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    app.container.register("project", project())
    seed(app.system, 20)
    set_faults(app.system, bad_records=0.2, seed=4)

    await script("sync_dry_run").main(app.container)
    planned = json.loads(capsys.readouterr().out)
    set_faults(app.system, bad_records=0.2, seed=4)  # reseeded: the same records go bad
    await script("sync_now").main(app.container)
    ran = json.loads(capsys.readouterr().out)
    await script("quarantine").main(app.container)
    listed = capsys.readouterr().out.splitlines()

    assert planned["created"] + planned["quarantined"] == 20
    assert planned["quarantined"] > 0
    assert (ran["created"], ran["quarantined"]) == (planned["created"], planned["quarantined"])
    assert listed[-1] == f"{planned['quarantined']} quarantined record(s)"
    assert all(line.startswith("brd_") for line in listed[:-1])
