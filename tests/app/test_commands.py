"""Project commands: ``src/commands/<group>.py`` adds ``loomwork <group> <command>``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner, Result

from loomwork.cli import app

from .conftest import make_project

LOOMWORK = str(Path(sys.executable).parent / "loomwork")


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, args, env=env)


def assert_clean_failure(result: Result, words: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("error: ") for line in lines), result.stderr
    assert words in result.stderr
    assert any(line.startswith("hint: ") for line in lines)
    assert "Traceback" not in result.output


def test_the_scaffolded_commands_count_and_export(
    project_dir: Path, sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    project = ["--project", str(project_dir)]
    seeded = invoke(["exec", str(project_dir / "scripts/seed.py"), *project], sqlite_env)
    assert seeded.exit_code == 0, seeded.output
    counted = invoke(["wishlist", "count", "--json", *project], sqlite_env)
    assert counted.exit_code == 0, counted.output
    assert json.loads(counted.stdout) == {"customer": None, "count": 3}
    nobody = invoke(["wishlist", "count", "--customer", "nobody", *project], sqlite_env)
    assert nobody.stdout.strip() == "0 wishlist item(s)"
    target = tmp_path / "items.jsonl"
    exported = invoke(["wishlist", "export", str(target), *project], sqlite_env)
    assert exported.exit_code == 0, exported.output
    products = [json.loads(line)["product"] for line in target.read_text().splitlines()]
    assert sorted(products) == ["chair", "lamp", "rug"]
    assert "Exporting" in exported.stderr
    assert "3/3" in exported.stderr


def test_help_inside_a_project_lists_its_groups(project_dir: Path) -> None:
    env = {"LOOMWORK_PROJECT": str(project_dir)}
    root = invoke(["--help"], env)
    assert root.exit_code == 0, root.output
    assert "Project commands" in root.stdout
    assert "wishlist" in root.stdout
    group = invoke(["wishlist", "--help"], env)
    assert group.exit_code == 0, group.output
    assert "count" in group.stdout
    assert "export" in group.stdout


def test_help_outside_a_project_works(tmp_path: Path) -> None:
    done = subprocess.run(
        [LOOMWORK, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "100"},
    )
    assert done.returncode == 0, done.stderr
    assert "workflows" in done.stdout
    assert "Project commands" not in done.stdout
    assert done.stderr == ""


MARKING = """
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loomwork.cli import ProjectCommands

if TYPE_CHECKING:
    from loomwork.container import Container

Path(os.environ["MARK"]).write_text("imported")
commands = ProjectCommands(help="Marks its import.")

@commands.command()
def hello(
    container: Container, name: Annotated[str, typer.Option(help="Who.")] = "world"
) -> None:
    print(f"hello {name} from {container.resolve('config').name}")
"""


def test_command_files_load_only_when_needed(tmp_path: Path) -> None:
    root = make_project(tmp_path / "lazy", {"src/commands/marking.py": MARKING})
    mark = tmp_path / "mark"
    env = {"MARK": str(mark), "LOOMWORK_PROJECT": str(root)}
    listed = invoke(["jobs", "list", "--json"], env)
    assert listed.exit_code == 0, listed.output
    assert not mark.exists()
    hello = invoke(["marking", "hello", "--name", "you"], env)
    assert hello.exit_code == 0, hello.output
    assert hello.stdout.strip() == "hello you from lazy"
    assert mark.read_text() == "imported"


FILES = {
    "src/commands/plain.py": (
        "import typer\n"
        "commands = typer.Typer(help='A plain Typer app.')\n"
        "@commands.command()\n"
        "def shout(word: str) -> None:\n"
        "    print(word.upper())\n"
        "@commands.command()\n"
        "def whisper(word: str) -> None:\n"
        "    print(word.lower())\n"
    ),
    "src/commands/tools.py": (
        "import typer\n"
        "from loomwork.cli import ProjectCommands\n"
        "from loomwork.errors import NotFoundError\n"
        "commands = ProjectCommands()\n"
        "@commands.command()\n"
        "async def boom(container) -> None:\n"
        "    raise RuntimeError('vendor down')\n"
        "@commands.command('find')\n"
        "async def find_brand(container, brand_id: str) -> None:\n"
        "    raise NotFoundError('brand', brand_id)\n"
        "@commands.command()\n"
        "def leave(container, code: int) -> None:\n"
        "    raise typer.Exit(code)\n"
    ),
    "src/commands/_helpers.py": "raise RuntimeError('helpers are not command groups')\n",
}


def test_plain_typer_groups_and_errors(tmp_path: Path) -> None:
    root = make_project(tmp_path / "tools", FILES)
    env = {"LOOMWORK_PROJECT": str(root)}
    shout = invoke(["plain", "shout", "hey"], env)
    assert (shout.exit_code, shout.stdout.strip()) == (0, "HEY")
    boom = invoke(["tools", "boom"], env)
    assert_clean_failure(boom, "error: RuntimeError: vendor down")
    assert "loomwork tools boom raised it" in boom.stderr
    assert_clean_failure(invoke(["tools", "find", "b_1"], env), "b_1")
    assert invoke(["tools", "leave", "3"], env).exit_code == 3
    assert invoke(["tools", "leave", "0"], env).exit_code == 0
    unknown = invoke(["tools", "nothing"], env)
    assert unknown.exit_code == 2
    assert "No such command" in unknown.output


def test_broken_and_clashing_files_are_named(tmp_path: Path) -> None:
    files = {
        "src/commands/broken.py": "raise RuntimeError('half written')\n",
        "src/commands/nothing.py": "commands = 42\n",
        "src/commands/jobs.py": "import typer\ncommands = typer.Typer()\n",
        "src/commands/no_container.py": (
            "from loomwork.cli import ProjectCommands\n"
            "commands = ProjectCommands()\n"
            "@commands.command()\n"
            "def orphan(name: str) -> None:\n"
            "    pass\n"
        ),
    }
    root = make_project(tmp_path / "broken", files)
    env = {"LOOMWORK_PROJECT": str(root)}
    assert_clean_failure(invoke(["broken", "x"], env), "broken.py: importing it failed")
    assert_clean_failure(invoke(["nothing", "x"], env), "must define 'commands")
    assert_clean_failure(
        invoke(["no-container", "orphan", "x"], env), "first parameter must be 'container'"
    )
    (root / "src/commands/steady.py").write_text("import typer\ncommands = typer.Typer()\n")
    helped = invoke(["--help"], env)
    assert helped.exit_code == 0, helped.output
    warnings = [line for line in helped.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 4, helped.stderr
    assert "start" in helped.stdout
    assert "steady" in helped.stdout
    listed = invoke(["jobs", "list", "--json"], env)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []


def test_a_group_named_like_a_built_in_is_refused_in_help(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "clash", {"src/commands/jobs.py": "import typer\ncommands = typer.Typer()\n"}
    )
    helped = invoke(["--help"], {"LOOMWORK_PROJECT": str(root)})
    assert helped.exit_code == 0, helped.output
    assert "'loomwork jobs' is a built-in command; rename the file" in helped.stderr


def test_help_survives_a_project_package_that_fails_to_import(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "unimportable",
        {
            "src/__init__.py": "raise RuntimeError('package is broken')\n",
            "src/commands/tools.py": "import typer\ncommands = typer.Typer()\n",
        },
    )
    env = {"LOOMWORK_PROJECT": str(root)}
    helped = invoke(["--help"], env)
    assert helped.exit_code == 0, helped.output
    assert "package is broken" in helped.stderr
    assert_clean_failure(invoke(["tools", "x"], env), "package is broken")
