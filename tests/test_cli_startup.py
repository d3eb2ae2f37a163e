"""The CLI's start-up stays lean: a command imports only what it uses.

The import checks run in a subprocess, so that nothing another test imported counts.
The table checks make sure the lazy command table and the command modules agree.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from typer.testing import CliRunner

import newsletter.cli
from newsletter.cli import app, apps
from newsletter.cli.commands import COMMANDS
from newsletter.cli.lazy import Command, Group, load_callback
from newsletter.storage import migrate
from newsletter.storage.db import make_engine
from newsletter.storage.revisions import code_head, database_revision

# Nothing that --help needs: servers, API clients, the database, settings, rendering,
# Rich's Markdown/Pygments help layout and tracebacks, and the command modules themselves.
HELP_ABSENT = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sendgrid",
    "httpx",
    "trafilatura",
    "feedparser",
    "apscheduler",
    "alembic",
    "sqlalchemy",
    "pydantic_settings",
    "jinja2",
    "mjml",
    "markdown_it",
    "pygments",
    "rich.traceback",
    "typer.rich_utils",
    "newsletter.settings",
    "newsletter.render",
    "newsletter.cli.issue_cmd",
    "newsletter.cli.status_cmd",
)

# status reads the database, the settings and (for its content problems) the content
# library; nothing that renders or sends.
STATUS_ABSENT = (
    "fastapi",
    "starlette",
    "uvicorn",
    "sendgrid",
    "httpx",
    "alembic",
    "jinja2",
    "mjml",
    "css_inline",
    "pygments",
    "rich.traceback",
    "apscheduler.schedulers",
    "newsletter.render.renderer",
    "newsletter.services.issues",
    "newsletter.delivery",
    "newsletter.cli.issue_cmd",
)

PROBE = """
import sys
sys.argv = ["newsletter", *{argv!r}]
from newsletter.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
loaded = [m for m in {absent!r} if m in sys.modules]
print("EXIT=" + str(code), file=sys.stderr)
print("LOADED=" + ",".join(loaded), file=sys.stderr)
"""


def _loaded_by(argv: list[str], absent: tuple[str, ...], env: dict[str, str] | None = None) -> str:
    probe = PROBE.format(argv=argv, absent=absent)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert "EXIT=0" in done.stderr, done.stderr
    return done.stderr.rstrip().rsplit("LOADED=", 1)[1]


def test_help_imports_no_command_module_and_no_heavy_library() -> None:
    assert _loaded_by(["--help"], HELP_ABSENT) == ""


def test_a_group_help_imports_none_of_its_command_modules() -> None:
    # The root's callback (the shared logging set-up) reads the settings before the
    # group sees its --help; everything else stays out.
    settings = ("pydantic_settings", "newsletter.settings")
    absent = tuple(m for m in HELP_ABSENT if m not in settings)
    assert _loaded_by(["issue", "--help"], absent) == ""


def test_status_loads_no_web_rendering_sending_or_migration_code(tmp_path: Path) -> None:
    import os

    url = f"sqlite:///{tmp_path / 'status.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": url}
    assert _loaded_by(["status"], STATUS_ABSENT, env) == ""


# With its cache warm, status reads through Core, and takes fire times and the content
# problems from the cache folder: no ORM, no APScheduler, no content parser.
STATUS_WARM_ABSENT = (
    *STATUS_ABSENT,
    "sqlalchemy.orm",
    "newsletter.storage.models",
    "apscheduler",
    "newsletter.content.loader",
    "yaml",
    "markdown_it",
)


def test_status_with_a_warm_cache_loads_no_orm_scheduler_or_content_parser(
    tmp_path: Path,
) -> None:
    import os

    url = f"sqlite:///{tmp_path / 'status.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": url}
    cold = _loaded_by(["status"], STATUS_WARM_ABSENT, env)
    assert "apscheduler" in cold and "newsletter.content.loader" in cold  # it did the work
    assert _loaded_by(["status"], STATUS_WARM_ABSENT, env) == ""
    assert _loaded_by(["status", "--json"], STATUS_WARM_ABSENT, env) == ""


def test_issue_send_loads_no_renderer_web_or_scheduler() -> None:
    # `issue send --help` resolves the send command, so its module and services load.
    absent = (
        *("jinja2", "mjml", "css_inline", "fastapi", "uvicorn", "alembic"),
        *("apscheduler.schedulers", "newsletter.content", "newsletter.render.renderer"),
    )
    assert _loaded_by(["issue", "send", "--help"], absent) == ""


def test_the_render_package_names_load_on_first_use() -> None:
    from newsletter import render

    for name in render.__all__:
        assert getattr(render, name) is not None, name
    with pytest.raises(AttributeError):
        _ = render.no_such_name


def _command_modules() -> list[str]:
    return [
        f"newsletter.cli.{m.name}"
        for m in pkgutil.iter_modules(newsletter.cli.__path__)
        if m.name.endswith("_cmd")
    ]


def _first_paragraph(text: str | None) -> str:
    return " ".join(inspect.cleandoc(text or "").split("\n\n")[0].split())


def test_the_table_lists_every_command_the_modules_declare() -> None:
    for name in _command_modules():
        importlib.import_module(name)
    groups = {id(e.app): (n, e) for n, e in COMMANDS.items() if isinstance(e, Group)}
    for gname in dir(apps):
        typer_app = getattr(apps, gname)
        if not isinstance(typer_app, typer.Typer):
            continue
        assert id(typer_app) in groups, f"apps.{gname} is missing from cli/commands.py"
        group_name, group = groups[id(typer_app)]
        declared = {info.name: info for info in typer_app.registered_commands}
        assert set(declared) == set(group.commands), (
            f"`newsletter {group_name}`: cli/commands.py lists {sorted(group.commands)}, "
            f"the modules declare {sorted(n for n in declared if n)}"
        )
        for cmd_name, entry in group.commands.items():
            info = declared[cmd_name]
            assert load_callback(entry.target) is info.callback, (group_name, cmd_name)
            real = info.help if info.help is not None else inspect.getdoc(info.callback)
            assert entry.help == _first_paragraph(real), (group_name, cmd_name)


def test_every_top_level_command_resolves_with_its_listed_help() -> None:
    for name, entry in COMMANDS.items():
        if isinstance(entry, Command):
            callback = load_callback(entry.target)
            assert entry.help == _first_paragraph(inspect.getdoc(callback)), name


@pytest.mark.parametrize("group", [n for n, e in COMMANDS.items() if isinstance(e, Group)])
def test_every_group_help_lists_all_its_commands(group: str) -> None:
    result = CliRunner().invoke(app, [group, "--help"])
    assert result.exit_code == 0, result.output
    entry = COMMANDS[group]
    assert isinstance(entry, Group)
    for name, command in entry.commands.items():
        assert f"  {name} " in result.output, (group, name)
        assert command.help.split()[0] in result.output


def test_root_help_lists_every_command_and_group() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output, name


def test_a_mistyped_command_is_a_usage_error_with_a_suggestion() -> None:
    result = CliRunner().invoke(app, ["issue", "sned", "1"])
    assert result.exit_code == 2
    assert "No such command 'sned'. Did you mean 'send'?" in result.output


def test_a_command_still_runs_through_the_lazy_table() -> None:
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "NEWSLETTER_DATABASE_URL" in result.output


def test_the_file_name_head_is_alembics_head() -> None:
    assert code_head() == ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


def test_the_schema_revision_read_directly_matches_alembics(engine: Engine) -> None:
    with engine.connect() as connection:
        expected = MigrationContext.configure(connection).get_current_revision()
    assert expected is not None
    assert database_revision(engine) == expected


def test_a_database_without_a_schema_has_no_revision(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert database_revision(engine) is None
    engine.dispose()


def test_importing_the_console_users_service_hashes_nothing() -> None:
    # An argon2 hash at import cost every command ~0.5 s of CPU and 64 MB of memory.
    probe = (
        "import argon2\n"
        "def refuse(*args, **kwargs):\n"
        "    raise SystemExit('hashed at import')\n"
        "argon2.PasswordHasher.hash = refuse\n"
        "import newsletter.services.users\n"
        "import newsletter.cli.users_cmd\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
