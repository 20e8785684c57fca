"""The `schedctl` command line: parse, call one core function, render, exit.

Thin on purpose: every command's work lives in a library module. Heavy imports (pydantic,
httpx, the server stack, rich) happen inside the commands, so `schedctl --help` stays fast.

Exit codes: 0 done and nothing pending, 1 any error, 2 changes pending (plan --detailed-exitcode).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from reconciler.loader import Project

EXIT_OK, EXIT_ERROR, EXIT_PENDING = 0, 1, 2


class Context:
    """Options shared by every command."""

    def __init__(
        self, config: str | None, targets: tuple[str, ...], verbose: int, color: bool
    ) -> None:
        self.config = config
        self.targets = targets
        self.verbose = verbose
        self.color = color


pass_ctx = click.make_pass_decorator(Context)


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def echo(text: str = "", *, err: bool = False) -> None:
    click.echo(text, err=err)


def common_paths(func: Any) -> Any:
    return click.argument("paths", nargs=-1, type=click.Path())(func)


def load(ctx: Context, paths: Sequence[str], *, strict: bool = False) -> Project:
    """Load and validate; print problems and exit 1 when anything is invalid."""
    from reconciler.loader import load_project
    from reconciler.validate import validate_project

    project = load_project(paths, ctx.config, only_targets=ctx.targets)
    project.diagnostics = validate_project(project)
    for d in project.warnings:
        echo(str(d), err=True)
    if project.errors or (strict and project.warnings):
        for d in project.errors:
            echo(str(d), err=True)
        raise SystemExit(EXIT_ERROR)
    return project


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Docs: README.md. Exit codes: 0 ok, 1 error, 2 changes pending (plan --detailed-exitcode).",
)
@click.version_option(package_name="schedctl")
@click.option("--config", "config", metavar="FILE", help="Config file (default: ./schedctl.yaml).")
@click.option(
    "--target", "targets", multiple=True, metavar="NAME", help="Only this target (repeatable)."
)
@click.option("-v", "--verbose", count=True, help="Log each request (method, URL, status, time).")
@click.option("--no-color", is_flag=True, help="No colour (NO_COLOR is honoured too).")
@click.pass_context
def cli(
    click_ctx: click.Context,
    config: str | None,
    targets: tuple[str, ...],
    verbose: int,
    no_color: bool,
) -> None:
    """schedctl: scheduled agent tasks as code.

    Keep schedules as YAML in git; validate them, plan and apply them to a platform, import
    what exists, and run them locally.

    \b
    Example:
      schedctl validate examples/
      schedctl apply examples/ --auto-approve
    """
    color = not no_color and "NO_COLOR" not in os.environ
    click_ctx.obj = Context(config, targets, verbose, color)
    if verbose:
        import logging

        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO, format="%(message)s"
        )


# --- validate / schema ------------------------------------------------------------------------


@cli.command()
@common_paths
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
)
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@pass_ctx
def validate(ctx: Context, paths: tuple[str, ...], fmt: str, strict: bool) -> None:
    """Check schedule files offline: syntax, schema, meaning, each target's platform rules.

    \b
    Example:
      schedctl validate examples/ --format github
    """
    from reconciler.loader import load_project
    from reconciler.render import diagnostics as render
    from reconciler.validate import validate_project

    project = load_project(paths, ctx.config, only_targets=ctx.targets)
    found = validate_project(project)
    failed = any(d.severity == "error" for d in found) or (strict and bool(found))
    if fmt == "json":
        echo(render.render_json(found, not failed))
    elif fmt == "github":
        if found:
            echo(render.render_github(found))
    else:
        text = render.render_text(found, len(project.files), len(project.schedules))
        echo(text)
    raise SystemExit(EXIT_ERROR if failed else EXIT_OK)


@cli.command()
@click.option(
    "--out", "out_dir", default="schemas", show_default=True, type=click.Path(file_okay=False)
)
@click.option("--check", is_flag=True, help="Exit 1 when the files on disk differ; write nothing.")
def schema(out_dir: str, check: bool) -> None:
    """Write the JSON schemas of schedule files and the config.

    \b
    Example:
      schedctl schema --out schemas/
    """
    from reconciler.schemas import write_schemas

    changed = write_schemas(out_dir, check=check)
    for path in changed:
        echo(f"{'differs' if check else 'wrote'}: {path}")
    if check and changed:
        raise SystemExit(EXIT_ERROR)


# --- next -------------------------------------------------------------------------------------


def split_names_and_paths(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Arguments that exist on disk are paths; the others are schedule names."""
    paths = [a for a in args if os.path.exists(a)]
    return [a for a in args if a not in paths], paths


def parse_instant(value: str | None) -> Any:
    from datetime import datetime, timezone

    if value is None:
        return datetime.now(timezone.utc)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--from {value!r} is not an ISO 8601 timestamp")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@cli.command("next")
@click.argument("names_or_paths", nargs=-1)
@click.option("-n", "count", default=5, show_default=True, type=click.IntRange(1, 1000))
@click.option("--from", "start", metavar="ISO", help="Start instant (default: now); naive is UTC.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@pass_ctx
def next_cmd(ctx: Context, names_or_paths: tuple[str, ...], count: int, start: str | None, fmt: str) -> None:
    """Show the next fire times of schedules, in their zone and in UTC.

    \b
    Example:
      schedctl next examples/ -n 3
      schedctl next morning-digest --from 2026-03-28T00:00:00Z --format json
    """
    import json

    from reconciler.upcoming import upcoming

    names, paths = split_names_and_paths(names_or_paths)
    project = load(ctx, paths)
    found = upcoming(project, names, parse_instant(start), count)
    missing = sorted(set(names) - {u.name for u in found})
    if missing:
        fail(f"no schedule named {', '.join(missing)}")
    if fmt == "json":
        echo(json.dumps([u.to_dict() for u in found], indent=2))
        return
    from reconciler.render.tables import render_upcoming

    echo(render_upcoming(found, color=ctx.color))


# --- init -------------------------------------------------------------------------------------


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite files that exist with other content.")
@click.option("--owner", metavar="NAME", help="Ownership scope (default: the directory's name).")
@click.option(
    "--platform",
    type=click.Choice(["engine", "aitroop"]),
    default="engine",
    show_default=True,
    help="Platform of the sandbox target and of the commented real one.",
)
def init(directory: str, force: bool, owner: str | None, platform: str) -> None:
    """Scaffold a schedules repository in DIRECTORY (default: here).

    Writes schedctl.yaml (a sandbox target, a commented real one), an example schedule, the JSON
    schemas, GitHub workflows (plan comment on pull requests, apply on main, nightly drift issue)
    and a pre-commit config. Existing files with other content are never overwritten without
    --force: then nothing at all is written.

    \b
    Example:
      git init schedules && schedctl init schedules --owner acme-schedules
      cd schedules && schedctl validate && schedctl plan
    """
    from pathlib import Path

    from reconciler.scaffold import init_repository

    result = init_repository(directory, owner=owner, platform=platform, force=force)
    if result.conflicts:
        echo("refusing to overwrite (use --force); nothing was written:", err=True)
        for rel in result.conflicts:
            echo(f"  {result.root / rel}", err=True)
        raise SystemExit(EXIT_ERROR)
    for rel in result.written:
        echo(f"wrote: {result.root / rel}")
    if result.unchanged:
        echo(f"unchanged: {len(result.unchanged)} file(s) already up to date")
    cd = "" if result.root == Path() else f"cd {result.root} && "
    echo(f"next: {cd}schedctl validate && schedctl plan")
    echo(f"for a real target, add the secret {result.token_env} (see schedctl.yaml)")


# --- entry point ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the CLI: user errors become one clear message and exit 1, never a traceback."""
    from reconciler.errors import SchedctlError

    try:
        code = cli.main(args=argv, prog_name="schedctl", standalone_mode=False)
    except click.exceptions.Abort:
        echo("aborted", err=True)
        code = EXIT_ERROR
    except click.ClickException as exc:
        exc.show()
        code = EXIT_ERROR
    except SchedctlError as exc:
        echo(f"error: {exc}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        echo("interrupted", err=True)
        code = 130
    except BrokenPipeError:
        code = EXIT_ERROR
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else EXIT_ERROR
    sys.exit(code if isinstance(code, int) else EXIT_OK)
