"""The `schedctl` command line: parse, call one core function, render, exit.

Thin on purpose: every command's work lives in a library module. Heavy imports (pydantic,
httpx, the server stack, rich) happen inside the commands, so `schedctl --help` stays fast.

Exit codes: 0 done and nothing pending, 1 any error, 2 changes pending (plan --detailed-exitcode).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

    from reconciler.errors import Diagnostic
    from reconciler.loader import Project
    from reconciler.model import Config
    from reconciler.plan import Plan
    from reconciler.platforms import Kind
    from reconciler.render import Formats
    from reconciler.targets import Connection

R = TypeVar("R")

EXIT_OK, EXIT_ERROR, EXIT_PENDING = 0, 1, 2


class Context:
    """Options shared by every command."""

    def __init__(
        self,
        config: str | None = None,
        targets: tuple[str, ...] = (),
        verbose: int = 0,
        color: bool = True,
    ) -> None:
        self.config = config
        self.targets = targets
        self.verbose = verbose
        self.color = color


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def echo(text: str = "", *, err: bool = False) -> None:
    click.echo(text, err=err)


class LazyChoice(click.Choice):  # type: ignore[type-arg]
    """Choices read when first needed: loading the entry points or a renderer is not for
    `schedctl --help` to pay."""

    def __init__(self) -> None:
        super().__init__((), case_sensitive=True)

    def names(self) -> Sequence[str]:
        raise NotImplementedError

    @property  # type: ignore[override]
    def choices(self) -> Sequence[str]:
        return tuple(self.names())

    @choices.setter
    def choices(self, _value: Sequence[str]) -> None:  # click.Choice assigns it
        pass


class PlatformChoice(LazyChoice):
    """The registry's platform names (see platforms.names)."""

    def __init__(self, kind: Kind = "all") -> None:
        self.kind: Kind = kind
        super().__init__()

    def names(self) -> Sequence[str]:
        from reconciler.platforms import names

        return names(self.kind)


class FormatChoice(LazyChoice):
    """The keys of a renderer module's FORMATS mapping (see reconciler.render)."""

    def __init__(self, module: str, mapping: str = "FORMATS") -> None:
        self.module, self.mapping = module, mapping
        super().__init__()

    def names(self) -> Sequence[str]:
        import importlib

        return list(getattr(importlib.import_module(self.module), self.mapping))


def defaulted(*decls: str, **attrs: Any) -> Callable[[Any], Any]:
    """An option whose default `--help` shows."""
    return click.option(*decls, show_default=True, **attrs)


def format_option(module: str, mapping: str = "FORMATS") -> Callable[[Any], Any]:
    """`--format NAME`, its choices the renderer's formats, text by default."""
    choice = FormatChoice(module, mapping)
    return defaulted("--format", "fmt", type=choice, default="text")


def emit(formats: Formats[R], fmt: str, result: R, ctx: Context, *, wide: bool = False) -> None:
    """Print `result` in the chosen format: the one place a command's output is chosen."""
    from reconciler.render import Style

    color = _color(ctx)
    text = formats[fmt](result, Style(color=color, wide=wide))
    if text is not None:
        click.echo(text, color=color)


class DefaultPlatform:
    """The registry's default platform, for an option default: asked when needed, shown by name."""

    def __call__(self) -> str:
        from reconciler.platforms import default_name

        return default_name()

    def __str__(self) -> str:
        return self()


def common_paths(func: Any) -> Any:
    return click.argument("paths", nargs=-1, type=click.Path())(func)


def _log_requests(verbose: int) -> None:
    if verbose:
        import logging

        logging.basicConfig(format="%(message)s")
        logging.getLogger().setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


def _merge_common(click_ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """The common options given after the command, merged into those given before it."""
    obj = click_ctx.ensure_object(Context)
    if param.name == "common_config" and value:
        obj.config = value
    elif param.name == "common_targets" and value:
        obj.targets = tuple(dict.fromkeys((*obj.targets, *value)))
    elif param.name == "common_verbose" and value:
        obj.verbose += value
        _log_requests(obj.verbose)
    elif param.name == "common_no_color" and value:
        obj.color = False


def common_options(func: Any) -> Any:
    """--config, --target, -v and --no-color, accepted after the command as before it."""
    options = (
        click.option(
            "--config",
            "common_config",
            expose_value=False,
            callback=_merge_common,
            metavar="FILE",
            help="Config file (default: schedctl.yaml in the first PATH that is a directory, "
            "else in the current directory).",
        ),
        click.option(
            "--target",
            "common_targets",
            expose_value=False,
            callback=_merge_common,
            multiple=True,
            metavar="NAME",
            help="Only this target (repeatable).",
        ),
        click.option(
            "-v",
            "--verbose",
            "common_verbose",
            expose_value=False,
            callback=_merge_common,
            count=True,
            help="Log each request (method, URL, status, time); -vv more.",
        ),
        click.option(
            "--no-color",
            "common_no_color",
            expose_value=False,
            callback=_merge_common,
            is_flag=True,
            help="Plain output: no colour, no progress bar (a non-empty NO_COLOR does the same).",
        ),
    )
    for option in reversed(options):
        func = option(func)
    return func


def say_warnings(warnings: Sequence[Diagnostic]) -> None:
    if warnings:  # one write, not one per line: a big repository has thousands
        echo("\n".join(map(str, warnings)), err=True)


def load(ctx: Context, paths: Sequence[str], *, strict: bool = False) -> Project:
    """Load and validate; print problems and exit 1 when anything is invalid."""
    from reconciler.loader import load_project
    from reconciler.validate import validate_project

    project = load_project(paths, ctx.config, only_targets=ctx.targets)
    project.diagnostics = validate_project(project)
    say_warnings(project.warnings)
    if project.errors or (strict and project.warnings):
        from reconciler.errors import InvalidInput

        raise InvalidInput(project.errors)
    return project


def whole_repository(
    ctx: Context, project: Project, *, prune: bool
) -> dict[str, frozenset[str]] | None:
    """The keys of the whole repository by target, when PATHS narrowed `project`; else None.

    Orphans and deletes are judged against the whole repository (the config's globs), so it
    is loaded beside PATHS, for its keys only (no platform checks). One that does not load
    refuses --prune: a key it cannot read might be deleted.
    """
    if not project.narrowed:
        return None
    from reconciler.loader import load_project
    from reconciler.reconcile import repository_keys

    whole = load_project((), project.config_file, only_targets=ctx.targets)
    if whole.errors:
        more = f" (and {len(whole.errors) - 1} more)" if len(whole.errors) > 1 else ""
        problem = f"{whole.errors[0]}{more}"
        if prune:
            fail(
                "--prune (or `prune: true` in the config) with PATHS judges deletes against the "
                f"whole repository (the config's globs), and it does not load: {problem}. "
                "Fix that, or pass --no-prune"
            )
        echo(
            f"warning: orphans are judged on the repository's files that load: {problem}", err=True
        )
    return repository_keys(whole)


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Docs: README.md. Exit codes: 0 ok, 1 error, 2 changes pending (plan --detailed-exitcode). "
    'Shell completion: eval "$(_SCHEDCTL_COMPLETE=bash_source schedctl)" (zsh_source, fish_source).',
)
@click.version_option(package_name="schedctl")
@click.option("--config", "config", metavar="FILE", help="Config file (default: ./schedctl.yaml).")
@click.option(
    "--target", "targets", multiple=True, metavar="NAME", help="Only this target (repeatable)."
)
@click.option("-v", "--verbose", count=True, help="Log each request (method, URL, status, time).")
@click.option(
    "--no-color",
    is_flag=True,
    help="Plain output: no colour, no progress bar (a non-empty NO_COLOR does the same).",
)
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
    color = not no_color and not os.environ.get("NO_COLOR")  # no-color.org: set and non-empty
    click_ctx.obj = Context(config, targets, verbose, color)
    _log_requests(verbose)


# --- validate / schema ------------------------------------------------------------------------


@cli.command()
@common_paths
@format_option("reconciler.render.diagnostics")
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@common_options
@pass_ctx
def validate(ctx: Context, paths: tuple[str, ...], fmt: str, strict: bool) -> int:
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
    findings = render.Findings(
        found, len(project.files), len(project.schedules), not failed, bool(project.config_file)
    )
    emit(render.FORMATS, fmt, findings, ctx)
    return EXIT_ERROR if failed else EXIT_OK


@cli.command()
@defaulted("--out", "out_dir", default="schemas", type=click.Path(file_okay=False))
@click.option("--check", is_flag=True, help="Exit 1 when the files on disk differ; write nothing.")
def schema(out_dir: str, check: bool) -> int:
    """Write the JSON schemas of schedule files and the config.

    \b
    Example:
      schedctl schema --out schemas/
    """
    from reconciler.schemas import write_schemas

    changed = write_schemas(out_dir, check=check)
    for path in changed:
        echo(f"{'differs' if check else 'wrote'}: {path}")
    return EXIT_ERROR if check and changed else EXIT_OK


# --- next -------------------------------------------------------------------------------------


def split_names_and_paths(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Arguments that exist on disk are paths; the others are schedule names."""
    paths = [a for a in args if os.path.exists(a)]
    return [a for a in args if a not in paths], paths


def wide_option(func: Any) -> Any:
    return click.option(
        "--wide", is_flag=True, help="Full ISO times, in the schedule's zone and in UTC."
    )(func)


def parse_instant(value: str | None, option: str = "--from") -> Any:
    """An option's ISO 8601 instant (naive is UTC); now when it is not given."""
    from datetime import datetime, timezone

    from reconciler import timing

    if value is None:
        return datetime.now(timezone.utc)
    try:
        return timing.parse_instant(value)
    except ValueError:
        fail(f"{option} {value!r} is not an ISO 8601 timestamp, e.g. 2026-03-09T00:00:00Z")


@cli.command("next")
@click.argument("names_or_paths", nargs=-1)
@defaulted("-n", "count", default=5, type=click.IntRange(1, 1000))
@click.option("--from", "start", metavar="ISO", help="Start instant (default: now); naive is UTC.")
@format_option("reconciler.render.upcoming")
@click.option(
    "--load",
    "show_load",
    is_flag=True,
    help="Tasks due per minute on each target against its per-tick capacity (a day).",
)
@click.option("--week", is_flag=True, help="With --load: seven days instead of one.")
@wide_option
@common_options
@pass_ctx
def next_cmd(
    ctx: Context,
    names_or_paths: tuple[str, ...],
    count: int,
    start: str | None,
    fmt: str,
    show_load: bool,
    week: bool,
    wide: bool,
) -> None:
    """Show the next fire times of schedules, in their zone and in UTC.

    \b
    Example:
      schedctl next examples/ -n 3
      schedctl next morning-digest --from 2026-03-28T00:00:00Z --format json
      schedctl next --load --week
    """

    from reconciler.upcoming import upcoming

    if week and not show_load:
        fail("--week goes with --load (schedctl next --load --week)")
    names, paths = split_names_and_paths(names_or_paths)
    project = load(ctx, paths)
    if show_load:
        from reconciler.upcoming import load_report

        loads = load_report(project, names, parse_instant(start), 7 if week else 1)
        unknown = sorted(set(names) - {s.key for s in project.schedules})
        if unknown:
            fail(f"no schedule named {', '.join(unknown)}")
        from reconciler.render import load as load_formats

        emit(load_formats.FORMATS, fmt, loads, ctx, wide=wide)
        return
    found = upcoming(project, names, parse_instant(start), count)
    missing = sorted(set(names) - {u.name for u in found})
    if missing:
        fail(f"no schedule named {', '.join(missing)}")
    from reconciler.render import upcoming as upcoming_formats

    emit(upcoming_formats.FORMATS, fmt, found, ctx, wide=wide)


# --- init -------------------------------------------------------------------------------------


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True, help="Overwrite files that exist with other content.")
@click.option("--owner", metavar="NAME", help="Ownership scope (default: the directory's name).")
@defaulted(
    "--platform",
    type=PlatformChoice("init"),
    default=DefaultPlatform(),
    help="Platform of the sandbox target and of the commented real one.",
)
@click.option(
    "--install",
    "install",
    metavar="SPEC",
    help="How the workflows and pre-commit install schedctl: a requirement "
    "(default: schedctl==THIS_VERSION from the package index), a pinned git URL "
    "(git+https://host/org/schedctl@TAG) or a path (relative to DIRECTORY).",
)
def init(directory: str, force: bool, owner: str | None, platform: str, install: str | None) -> int:
    """Scaffold a schedules repository in DIRECTORY (default: here).

    Writes schedctl.yaml (a sandbox target, a commented real one, `prune: false`), an example
    schedule, the JSON schemas, GitHub workflows (plan comment on pull requests, apply on main,
    nightly drift issue), a pre-commit config and a Dependabot config. Existing files with
    other content are never overwritten without --force: then nothing at all is written.

    \b
    Example:
      git init schedules && schedctl init schedules --owner acme-schedules
      schedctl init schedules --install git+https://github.com/acme/schedctl@v0.1.0
      cd schedules && schedctl validate && schedctl plan
    """
    from pathlib import Path

    from reconciler.scaffold import init_repository

    result = init_repository(
        directory, owner=owner, platform=platform, force=force, install=install
    )
    if result.conflicts:
        echo("refusing to overwrite (use --force); nothing was written:", err=True)
        for rel in result.conflicts:
            echo(f"  {result.root / rel}", err=True)
        return EXIT_ERROR
    for rel in result.written:
        echo(f"wrote: {result.root / rel}")
    if result.unchanged:
        echo(f"unchanged: {len(result.unchanged)} file(s) already up to date")
    cd = "" if result.root == Path() else f"cd {result.root} && "
    echo(f"CI and pre-commit install schedctl with: {result.install.text} (--install SPEC)")
    echo(f"next: {cd}schedctl validate && schedctl plan")
    echo(f"for a real target, add the secret {result.token_env} (see schedctl.yaml)")
    return EXIT_OK


# --- reconcile: plan / apply / import / status / trigger / runs ---------------------------------


def _config_only(ctx: Context, paths: Sequence[str] = ()) -> tuple[Config, Path, Path | None]:
    """(Config, root, config file) for commands that read no schedule files (trigger, runs,
    import, saved plans), found as `plan` finds it: --config, else schedctl.yaml in the first
    PATH that is a directory, else in the current directory, else the built-in default."""
    from pathlib import Path

    from reconciler.loader import find_config, load_config

    if ctx.config and not Path(ctx.config).is_file():
        fail(f"{ctx.config}: config file not found")
    config_file = find_config(paths, ctx.config)
    config, _, _, problems = load_config(config_file)
    if problems:
        from reconciler.errors import InvalidInput

        raise InvalidInput(problems)
    return config, (config_file.parent if config_file else Path.cwd()), config_file


def _config_words(config_file: str | Path | None) -> str:
    if config_file is None:
        return "no config file: the built-in local sandbox"
    from pathlib import Path

    from reconciler.loader import show_path

    return f"config {show_path(Path(config_file))}"


def _named(problem: str, config_file: str | Path | None) -> str:
    """A target's error, naming the config it came from: `target 'x' (config F): ...`."""
    import re

    words = _config_words(config_file)
    match = re.match(r"target '([^']*)': ", problem)
    if match is None:
        return f"{problem} ({words})"
    return f"target {match.group(1)!r} ({words}): {problem[match.end() :]}"


@contextmanager
def _about(target: str, config_file: Path | None) -> Iterator[None]:
    """Errors of a one-target command name that target and the config it came from."""
    from reconciler.errors import SchedctlError

    try:
        yield
    except SchedctlError as exc:
        text = str(exc)
        if not text.startswith(f"target {target!r}: "):
            text = f"target {target!r}: {text}"
        raise SchedctlError(_named(text, config_file)) from None


def _one_target(ctx: Context, config: Config, config_file: Path | None) -> str:
    names = ", ".join(config.targets)
    if len(ctx.targets) == 1:
        name = ctx.targets[0]
    elif not ctx.targets and len(config.targets) == 1:
        name = next(iter(config.targets))
    else:
        fail(f"name one target with --target ({_config_words(config_file)} has: {names})")
    if name not in config.targets:
        from reconciler.explain import target_hint

        fail(
            f"--target {name!r} is not a target of the {_config_words(config_file)}"
            + target_hint(name, list(config.targets))
        )
    return name


@contextmanager
def _one_task(ctx: Context, config: Config, root: Path, config_file: Path | None,
              name: str) -> Iterator[tuple[str, Any, Any]]:  # fmt: skip
    """The one target, its connected provider and its task NAME (a key, a title or an id)."""
    from reconciler.errors import UsageError
    from reconciler.status import find_task
    from reconciler.targets import connect

    target = _one_target(ctx, config, config_file)
    with _about(target, config_file):
        empty = _nothing_there(config, root, target)
        if empty is not None:
            raise UsageError(f"no task {name!r}: {empty}")
        with connect(config, root, [target], create=False) as conns:
            provider = _connection(conns, target).provider
            yield target, provider, find_task(provider.list_tasks(), name, config.owner)


def _connection(conns: Mapping[str, Connection], name: str) -> Connection:
    from reconciler.errors import SchedctlError
    from reconciler.targets import failed_targets

    if name not in conns:
        raise SchedctlError(failed_targets(conns).get(name, f"target {name!r}: not connected"))
    return conns[name]


def _nothing_there(config: Config, root: Path, name: str) -> str | None:
    """Why a sandbox target holds nothing yet (its database file does not exist), else None."""
    from reconciler.loader import show_path
    from reconciler.targets import sandbox_file

    db = sandbox_file(config.targets[name], root)
    if db is None or db.exists():
        return None
    return (
        f"nothing there yet: its sandbox database {show_path(db)} does not exist "
        "(`schedctl apply` creates it)"
    )


def _pruning(ctx: Context, config: Config, prune: bool | None) -> bool:
    """Whether any target this command works on prunes (the flag, else the config)."""
    return any(config.prune_for(name, prune) for name in ctx.targets or config.targets)


def _color(ctx: Context) -> bool:
    return ctx.color and sys.stdout.isatty()


PRUNE_HELP = "override the config's `prune` (default: off) for this run"


def prune_options(prune_help: str) -> Callable[[Any], Any]:
    """--prune/--no-prune (what it does: `prune_help`) and --allow-empty, for plan and apply."""

    def add(func: Any) -> Any:
        func = click.option(
            "--allow-empty", is_flag=True, help="Let prune empty a target with no schedules."
        )(func)
        return click.option(
            "--prune/--no-prune", default=None, help=f"{prune_help}: {PRUNE_HELP}."
        )(func)

    return add


@dataclass(frozen=True)
class Selection:
    """PATHS, then --select / --exclude: which files a command reads, and which keys in them."""

    paths: tuple[str, ...]
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @property
    def narrowed(self) -> bool:
        return bool(self.select or self.exclude)

    def keeps(self, key: str) -> bool:
        from reconciler.plan import selected

        return selected(key, self.select, self.exclude)


def selection_options(func: Any) -> Any:
    """PATHS and --select / --exclude (repeatable fnmatch globs), given to the command as one
    `selection: Selection`."""

    @functools.wraps(func)
    def command(
        *args: Any, paths: tuple[str, ...], select: tuple[str, ...], exclude: tuple[str, ...],
        **kwargs: Any,
    ) -> Any:  # fmt: skip
        return func(*args, selection=Selection(paths, select, exclude), **kwargs)

    command = click.option(
        "--exclude", multiple=True, metavar="GLOB", help="Leave out the keys this glob matches."
    )(command)
    command = click.option(
        "--select",
        multiple=True,
        metavar="GLOB",
        help="Only the keys this glob matches; prune considers those alone.",
    )(command)
    return common_paths(command)


def seconds_option(name: str, default: float, least: float, what: str) -> Callable[[Any], Any]:
    """A number of seconds, at least `least`: "Seconds {what}"."""
    return defaulted(
        name, default=default, type=click.FloatRange(min=least), help=f"Seconds {what}"
    )


def planned(
    project: Project,
    conns: Mapping[str, Connection],
    selection: Selection,
    prune: bool | None,
    allow_empty: bool,
    repository: Mapping[str, frozenset[str]] | None,
    allow_delete: Sequence[str] = (),
) -> Plan:
    """The plan of `project` on `conns` for the selected keys: plan's and apply's one call."""
    from reconciler.reconcile import make_plan

    return make_plan(
        project,
        conns,
        prune=prune,
        allow_empty=allow_empty,
        repository=repository,
        paths=selection.paths,
        allow_delete=allow_delete,
        select=selection.select,
        exclude=selection.exclude,
    )


def concurrency_option(default: int, help: str) -> Callable[[Any], Any]:
    return defaulted("--concurrency", default=default, type=click.IntRange(1, 64), help=help)


def say_target_errors(targets: Iterable[Any], config_file: str | Path | None) -> None:
    """Each failed target on stderr too: a result piped to a file still says why."""
    for target in targets:
        if target.error:
            echo(f"error: {_named(target.error, config_file)}", err=True)


@cli.command()
@selection_options
@format_option("reconciler.render.plan")
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False), help="Save the plan as JSON for `apply`."
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when changes are pending or orphans exist, 0 when none.",
)
@prune_options("Plan deletes of this owner's objects the repository lacks, or not")
@common_options
@pass_ctx
def plan(
    ctx: Context,
    selection: Selection,
    fmt: str,
    out_file: str | None,
    detailed_exitcode: bool,
    prune: bool | None,
    allow_empty: bool,
) -> int:
    """Show what apply would change on each target: + create, ~ update, - delete.

    \b
    Example:
      schedctl plan examples/ --detailed-exitcode
      schedctl plan --format markdown > plan.md
    """
    from pathlib import Path

    from reconciler.render import plan as render
    from reconciler.targets import connect, select_targets

    project = load(ctx, selection.paths)
    pruning = _pruning(ctx, project.config, prune)
    repository = whole_repository(ctx, project, prune=pruning)
    names = select_targets(project, ctx.targets, every=pruning)
    # A plan only reads: a sandbox never applied to is planned as empty, not created.
    with connect(project.config, project.root, names, create=False) as conns:
        result = planned(project, conns, selection, prune, allow_empty, repository)
    if out_file:
        Path(out_file).write_text(render.render_json(result) + "\n", encoding="utf-8")
    emit(render.FORMATS, fmt, result, ctx)
    if out_file and fmt == "text":
        echo(f"saved the plan to {out_file}: `schedctl apply {out_file}` carries it out")
    say_target_errors(result.targets, project.config_file)
    if result.over_budget:  # the plan is shown, and fails: a change crosses a budget
        echo("\n".join(result.over_budget), err=True)
    if result.failed or result.over_budget:
        return EXIT_ERROR
    # Orphans count: the repository and the platform differ even when apply has nothing to do.
    return EXIT_PENDING if detailed_exitcode and result.differs else EXIT_OK


@cli.command()
@selection_options
@click.option(
    "--auto-approve",
    is_flag=True,
    help="Apply without asking (needed without a terminal). A saved plan.json is applied "
    "without asking: it is the approval.",
)
@prune_options("Delete this owner's objects the repository no longer has, or not")
@click.option(
    "--allow-delete",
    multiple=True,
    metavar="KEY",
    help="Let the delete of this protected key through (repeatable).",
)
@concurrency_option(8, "Writes in flight at once.")
@common_options
@pass_ctx
def apply(
    ctx: Context,
    selection: Selection,
    auto_approve: bool,
    prune: bool | None,
    allow_empty: bool,
    allow_delete: tuple[str, ...],
    concurrency: int,
) -> int:
    """Make the targets match the repository (or carry out a saved plan.json).

    Every file is validated first: one invalid file anywhere and nothing is written. Each
    change gets a result line, and the run ends with one summary line; on a terminal, more
    than five changes show a progress bar as well. A saved plan (`plan --out plan.json`) is
    carried out without a question, as it was reviewed, unless a target changed since it was
    made: then it is refused and nothing is written.

    \b
    Example:
      schedctl apply examples/ --auto-approve
      schedctl plan --out plan.json && schedctl apply plan.json
    """
    import time

    from reconciler.reconcile import (
        allow_deletes,
        apply_plan,
        check_fresh,
        saved_plan,
    )
    from reconciler.render import plan as render
    from reconciler.render.progress import apply_progress
    from reconciler.targets import connect, select_targets

    started = time.perf_counter()
    color = _color(ctx)
    saved = saved_plan(selection.paths)
    if saved is not None:
        if prune is not None:
            fail(
                "a saved plan is carried out as it was reviewed: --prune / --no-prune go with "
                "`schedctl plan --out`"
            )
        the_plan = saved
        if the_plan.config and not ctx.config:
            ctx.config = the_plan.config
        config, root, _ = _config_only(ctx)
        names = [t.target for t in the_plan.targets]
    else:
        if not auto_approve and not sys.stdin.isatty():
            fail(
                "refusing to apply: no terminal to confirm on; pass --auto-approve to apply "
                "unattended, or apply a reviewed plan (`schedctl apply plan.json`)"
            )
        project = load(ctx, selection.paths)
        pruning = _pruning(ctx, project.config, prune)
        repository = whole_repository(ctx, project, prune=pruning)
        config, root = project.config, project.root
        names = select_targets(project, ctx.targets, every=pruning)
    with connect(config, root, names, concurrency=concurrency) as conns:
        if saved is not None:
            if selection.narrowed:
                fail("--select and --exclude are for plans made here, not for a saved plan")
            allow_deletes(the_plan, allow_delete)
            check_fresh(the_plan, conns, owner=config.owner, previous_owners=config.previous_owners)
        else:
            the_plan = planned(
                project, conns, selection, prune, allow_empty, repository, allow_delete
            )
        click.echo(render.render_plan(the_plan, color=color), color=color)
        if the_plan.over_budget:
            echo("\n".join(the_plan.over_budget), err=True)
            fail("nothing was applied: a change crosses a budget (see above)")
        if not the_plan.pending:  # nothing to write or ask about; failed targets still count
            result = apply_plan(the_plan, conns, concurrency=concurrency)
        else:
            asking = saved is None and not auto_approve
            if asking and not click.confirm("\nApply these changes?", default=False):
                fail("apply cancelled: nothing was changed")
            echo()
            total = sum(len(t.changes) for t in the_plan.targets if not t.error)
            with apply_progress(total, color=ctx.color, verbose=ctx.verbose) as on_result:
                result = apply_plan(the_plan, conns, concurrency=concurrency, on_result=on_result)
    echo(render.render_apply(result, elapsed=time.perf_counter() - started))
    return EXIT_OK if result.ok else EXIT_ERROR


@cli.command()
@click.argument("plan_file", metavar="PLAN.json", type=click.Path(dir_okay=False))
@format_option("reconciler.render.plan")
@common_options
@pass_ctx
def show(ctx: Context, plan_file: str, fmt: str) -> int:
    """Render a saved plan (`plan --out plan.json`) as text, JSON or a pull-request comment.

    Reads the file only: no config, no platform. Fire times in the markdown form count from
    when the plan was made. With --target, only those targets are shown.

    \b
    Example:
      schedctl plan --out plan.json && schedctl show plan.json --format markdown
    """

    from reconciler.reconcile import read_plan
    from reconciler.render import plan as render

    the_plan = read_plan(plan_file)
    if ctx.targets:
        known = [t.target for t in the_plan.targets]
        unknown = [n for n in ctx.targets if n not in known]
        if unknown:
            fail(f"{plan_file} has no target {unknown[0]!r} (it has: {', '.join(known)})")
        the_plan.targets = [t for t in the_plan.targets if t.target in ctx.targets]
    emit(render.FORMATS, fmt, the_plan, ctx)
    return EXIT_ERROR if the_plan.failed else EXIT_OK


@cli.command("import")
@common_paths
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Directory (default: schedules/TARGET).",
)
@click.option(
    "--adopt",
    is_flag=True,
    help="Mark the imported tasks as this owner's, so plan shows no change. Files that exist "
    "are kept, and the tasks they describe adopted.",
)
@click.option("--force", is_flag=True, help="Rewrite the files that exist.")
@click.option("--select", "select", metavar="GLOB", help="Only tasks whose title or key matches.")
@click.option(
    "--templates",
    is_flag=True,
    help="Write tasks that differ in one value only as one template file.",
)
@common_options
@pass_ctx
def import_cmd(
    ctx: Context,
    paths: tuple[str, ...],
    out_dir: str | None,
    adopt: bool,
    force: bool,
    select: str | None,
    templates: bool,
) -> int:
    """Write the live tasks of a target as schedule files, one per task.

    \b
    Example:
      schedctl import --target prod --out schedules/prod --adopt
      schedctl import --target prod --templates
    """
    from datetime import datetime, timezone
    from pathlib import Path

    from reconciler.importer import import_target
    from reconciler.loader import load_project
    from reconciler.render.live import render_imported
    from reconciler.targets import connect

    config, root, config_file = _config_only(ctx, paths)
    name = _one_target(ctx, config, config_file)
    directory = Path(out_dir) if out_dir else root / "schedules" / name
    with _about(name, config_file):
        empty = _nothing_there(config, root, name)
        if empty is not None:
            echo(f"nothing to import from target {name!r}: {empty}")
            return EXIT_OK
        # Keys made from titles must not take a key some schedule file already has.
        repository = load_project((), str(config_file) if config_file else None)
        with connect(config, root, [name], create=False) as conns:
            results = import_target(
                _connection(conns, name),
                directory,
                schema_root=root,
                now=datetime.now(timezone.utc),
                adopt=adopt,
                force=force,
                select=select,
                templates=templates,
                taken={s.key for s in repository.schedules},
            )
    echo(render_imported(results))
    if templates:
        from reconciler.render.live import render_families

        echo(render_families(results))
    return EXIT_ERROR if any(r.status == "failed" for r in results) else EXIT_OK


@cli.command()
@selection_options
@common_options
@wide_option
@pass_ctx
def status(ctx: Context, selection: Selection, wide: bool) -> int:
    """Every target and engine instance in one table: last and next run, errors, drift.

    \b
    Example:
      schedctl status --config examples/schedctl.yaml
    """
    from reconciler.render.live import render_status
    from reconciler.status import status_rows
    from reconciler.targets import connect, select_targets

    project = load(ctx, selection.paths)
    names = select_targets(project, ctx.targets, every=True)
    with connect(project.config, project.root, names, create=False) as conns:
        rows, problems, warnings = status_rows(project, conns)
    if selection.narrowed:
        rows = [r for r in rows if selection.keeps(r.key)]
    click.echo(render_status(rows, color=ctx.color, wide=wide), color=_color(ctx))
    for warning in warnings:
        echo(f"warning: {_named(warning, project.config_file)}", err=True)
    for problem in problems:
        echo(f"error: {_named(problem, project.config_file)}", err=True)
    return EXIT_ERROR if problems else EXIT_OK


@cli.command()
@click.argument("name")
@common_paths
@common_options
@pass_ctx
def trigger(ctx: Context, name: str, paths: tuple[str, ...]) -> None:
    """Run a task on its platform now (NAME: a key, a title or an id).

    \b
    Example:
      schedctl trigger morning-digest --target local
      schedctl trigger morning-digest examples/ --target local
    """
    import json

    config, root, config_file = _config_only(ctx, paths)
    with _one_task(ctx, config, root, config_file, name) as (target, provider, task):
        answer = provider.run(task.id)
    echo(f"triggered {task.title!r} (id {task.id}) on {target}")
    if answer:
        echo(json.dumps(answer, indent=2, ensure_ascii=False))


def store_options(func: Any) -> Any:
    """`--store URL` / `--store-env VAR`: the runs database on PostgreSQL (replicas)."""
    func = click.option(
        "--store-env",
        metavar="VAR",
        help="Read the --store URL from this environment variable (keeps a password out of "
        "`ps` and shell history).",
    )(func)
    return click.option(
        "--store",
        metavar="URL",
        help="Runs database on PostgreSQL, shared by replicas: postgresql://user@host/db "
        "(instead of the SQLite --db).",
    )(func)


def _store_url(store: str | None, store_env: str | None, db: str | None) -> str | None:
    """The PostgreSQL URL from --store or --store-env, checked; None: SQLite."""
    from reconciler.runner.postgres import has_password
    from reconciler.runner.store import is_url

    if store and store_env:
        fail("--store and --store-env both name the runs database: give one")
    if (store or store_env) and db:
        fail("--db is the SQLite runs database, --store the PostgreSQL one: give one")
    if store_env:
        url = os.environ.get(store_env, "").strip()
        if not url:
            fail(f"--store-env {store_env}: the environment variable {store_env} is not set "
                 "(export it as postgresql://user:password@host/db)")  # fmt: skip
        where = f"the environment variable {store_env}"
    elif store:
        url, where = store, "--store"
    else:
        return None
    if not is_url(url):
        fail(f"{where}: expected a PostgreSQL URL such as postgresql://schedctl@db.internal/schedctl "
             "(for SQLite, use --db FILE)")  # fmt: skip
    if store and has_password(url):
        fail("--store: the URL carries a password, which `ps` and the shell history show to "
             "others; put the URL in an environment variable and pass --store-env VAR, or keep "
             "the password in PGPASSWORD or ~/.pgpass")  # fmt: skip
    return url


# --- pause / resume ---------------------------------------------------------------------------


@cli.command()
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@click.option("--for", "duration", metavar="DURATION", help="How long: 90s, 15m, 4h, 2d, 1h30m.")
@click.option("--until", "until", metavar="ISO", help="Until when (naive is UTC).")
@click.option("--note", metavar="TEXT", help="Why (required); kept in the marker.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@common_options
@pass_ctx
def pause(
    ctx: Context,
    names: tuple[str, ...],
    duration: str | None,
    until: str | None,
    note: str | None,
    dry_run: bool,
) -> int:
    """Disable tasks on their platform in place, keeping until / who / note in the marker.

    NAME is a schedule key or a glob. Plans leave a paused task disabled and say so; once
    --for / --until has passed, the next apply enables it again. Without either, it stays
    paused until `schedctl resume`. Who is `git config user.email`, else $USER.

    \b
    Example:
      schedctl pause morning-digest --for 4h --note "vendor outage"
      schedctl pause 'billing-*' --target prod --until 2026-05-01T12:00Z --note "freeze"
    """
    from datetime import datetime, timezone

    from reconciler.pause import new_pause, who

    now = datetime.now(timezone.utc)
    the_pause = new_pause(duration, until, note, who(), now)
    return _pause_or_resume(ctx, names, the_pause, now, dry_run=dry_run)


@cli.command()
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@common_options
@pass_ctx
def resume(ctx: Context, names: tuple[str, ...], dry_run: bool) -> int:
    """End a pause now: enable the tasks as the repository says, the pause cleared.

    \b
    Example:
      schedctl resume morning-digest
    """
    from datetime import datetime, timezone

    return _pause_or_resume(ctx, names, None, datetime.now(timezone.utc), dry_run=dry_run)


if TYPE_CHECKING:
    from datetime import datetime

    from reconciler.forms import Pause


def _pause_or_resume(
    ctx: Context, names: Sequence[str], the_pause: Pause | None, now: datetime, *, dry_run: bool
) -> int:
    from reconciler.pause import make_pause_plan, pause_keys
    from reconciler.reconcile import apply_plan
    from reconciler.render import plan as render
    from reconciler.targets import connect

    project = load(ctx, ())
    keys = pause_keys(project, names, ctx.targets)
    with connect(project.config, project.root, list(keys), create=False) as conns:
        the_plan = make_pause_plan(project, conns, keys, the_pause, now)
        emit(render.FORMATS, "text", the_plan, ctx)
        if dry_run:
            return EXIT_ERROR if the_plan.failed else EXIT_OK
        result = apply_plan(the_plan, conns)
    for done in result.results:
        if done.change.writes:
            echo(render.result_line(done))
    echo(render.render_apply(result))
    return EXIT_OK if result.ok else EXIT_ERROR


@cli.command()
@click.argument("name_or_paths", metavar="[NAME] [PATHS]...", nargs=-1)
@defaulted(
    "-n",
    "count",
    default=20,
    type=click.IntRange(1, 1000),
    help="How many runs.",
)
@click.option(
    "--local", "local", is_flag=True, help="The local runner's history (.schedctl/runs.db)."
)
@click.option(
    "--db", "db", type=click.Path(dir_okay=False), help="With --local: the runs database."
)
@store_options
@format_option("reconciler.render.live", "RUNS_FORMATS")
@common_options
@wide_option
@pass_ctx
def runs(
    ctx: Context,
    name_or_paths: tuple[str, ...],
    count: int,
    local: bool,
    db: str | None,
    store: str | None,
    store_env: str | None,
    fmt: str,
    wide: bool,
) -> None:
    """Run history: the platform's for a task (NAME --target T), or the local runner's (--local).

    \b
    Example:
      schedctl runs morning-digest --target local -n 5
      schedctl runs --local
      schedctl runs --local --store-env SCHEDCTL_STORE_URL
    """
    names, paths = split_names_and_paths(name_or_paths)
    if len(names) > 1:
        fail(f"one task at a time (got {', '.join(names)})")
    name = names[0] if names else None
    config, root, config_file = _config_only(ctx, paths)
    zone = None  # the local runner's history spans schedules: shown in UTC
    url = _store_url(store, store_env, db)
    if (store or store_env) and not local:
        fail("--store and --store-env read the local runner's history: add --local")
    if local:
        from reconciler.runner.store import list_runs

        path = db or root / ".schedctl" / "runs.db"  # where `schedctl run` keeps it by default
        records = [r.to_dict() for r in list_runs(path, name, count, url=url)]
    else:
        if name is None:
            fail("name a task (or pass --local for the local runner's history)")
        with _one_task(ctx, config, root, config_file, name) as (_, provider, task):
            records = provider.runs(task.id, count)
            zone = task.document.get("schedule", {}).get("timezone")
    from reconciler.render.live import RUNS_FORMATS, RunLog

    emit(RUNS_FORMATS, fmt, RunLog(records, zone), ctx, wide=wide)


# --- audit: expected fires against the run logs (reconciler/audit.py, runlog.py) --------------


def _fail_on(value: str) -> tuple[str, ...]:
    """--fail-on KINDS: comma-separated finding kinds, or `none`."""
    from reconciler.audit import KINDS

    kinds = tuple(dict.fromkeys(k.strip() for k in value.split(",") if k.strip()))
    if kinds == ("none",):
        return ()
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        from reconciler.explain import hint

        fail(
            f"--fail-on {value!r}: expected finding kinds separated by commas, from "
            f"{', '.join(KINDS)} (or none), e.g. --fail-on missed,failing"
            + (hint(unknown[0], list(KINDS)) if unknown else "")
        )
    return kinds


def _since(click_ctx: click.Context, param: click.Parameter, value: str) -> Any:
    """--since DURATION: how far back from now (or from --until / --now), above zero."""
    from datetime import timedelta

    from reconciler.timing import parse_duration

    try:
        window = parse_duration(value)
    except ValueError:
        fail(f"--since {value!r}: expected a duration back from now, e.g. 7d, 36h or 90m")
    if window <= timedelta(0):
        fail(f"--since {value!r}: expected a duration above zero, e.g. 7d")
    return window


def window_options(func: Any) -> Any:
    """PATHS, --select / --exclude, --since and --concurrency: what audit and report read."""
    func = concurrency_option(16, "Run-log requests in flight at once.")(func)
    func = defaulted(
        "--since",
        "window",
        default="7d",
        metavar="DURATION",
        callback=_since,
        help="How far back from now: 7d, 36h, 90m.",
    )(func)
    return selection_options(func)


def audited(
    ctx: Context, selection: Selection, *, until: datetime, window: Any, concurrency: int
) -> tuple[Project, Any]:
    """The project and its audit over [until - window, until): both commands' one read."""
    from reconciler.runlog import audit_project
    from reconciler.targets import connect, select_targets

    project = load(ctx, selection.paths)
    names = select_targets(project, ctx.targets)
    with connect(
        project.config, project.root, names, concurrency=concurrency, create=False
    ) as conns:
        report = audit_project(
            project,
            conns,
            since=until - window,
            until=until,
            concurrency=concurrency,
            select=selection.select,
            exclude=selection.exclude,
        )
    return project, report


@cli.command()
@window_options
@click.option(
    "--until",
    "until_text",
    metavar="ISO",
    help="Where the window ends (default: now; naive is UTC): a past week, or a sandbox's "
    "virtual clock.",
)
@format_option("reconciler.render.audit")
@click.option(
    "--fail-on",
    "fail_on",
    default="missed,failing,auto-disabled",
    show_default=True,
    metavar="KINDS",
    help="Exit 2 when findings of these kinds exist (comma-separated, or none).",
)
@common_options
@pass_ctx
def audit(
    ctx: Context,
    selection: Selection,
    window: Any,
    until_text: str | None,
    fmt: str,
    fail_on: str,
    concurrency: int,
) -> int:
    """Compare each schedule's expected fires with the platform's run logs and live state.

    Findings: missed, late, failing, auto-disabled, unexpected, overlapping, anomalous; and runs
    and tokens per task per day. Exit 0 healthy, 2 when findings of the --fail-on kinds exist,
    1 on any error (a target that could not be listed or its run log read).

    \b
    Example:
      schedctl audit examples/ --since 7d
      schedctl audit --since 7d --until 2026-03-09T00:00:00Z --format json
      schedctl audit --format markdown --fail-on missed,failing,auto-disabled,late > health.md
    """
    from reconciler.render.audit import FORMATS, Audited

    kinds = _fail_on(fail_on)
    until = parse_instant(None if until_text == "now" else until_text, "--until")
    project, report = audited(ctx, selection, until=until, window=window, concurrency=concurrency)
    emit(FORMATS, fmt, Audited(report, kinds), ctx)
    say_target_errors(report.targets, project.config_file)
    if report.failed:
        return EXIT_ERROR
    return EXIT_PENDING if report.failing(kinds) else EXIT_OK


# --- report: the week as one HTML page (reconciler/report.py, render/report.py) --------------


def _until(value: str, now: Any) -> Any:
    """--until: `+7d` from now, or an ISO instant (naive is UTC) not before now."""
    from reconciler.timing import parse_duration, parse_instant

    try:
        until = now + parse_duration(value[1:]) if value.startswith("+") else parse_instant(value)
    except ValueError:
        fail(f"--until {value!r}: expected a duration ahead of now, e.g. +7d, or an ISO instant")
    if until < now:
        fail(f"--until {value!r} is before now ({now:%Y-%m-%d %H:%M} UTC): e.g. +7d")
    return until


@cli.command()
@window_options
@click.option("--until", "until_text", default="+7d", show_default=True, metavar="+DURATION|ISO",
              help="How far ahead: +7d, or an instant.")  # fmt: skip
@click.option("--now", "now_text", metavar="ISO", help="Where past meets future (default: now; "
              "a sandbox's virtual clock).")  # fmt: skip
@click.option("--out", metavar="FILE", help="Write the report here (default: stdout).")
@click.option("--format", "fmt", type=FormatChoice("reconciler.render.report"), default="html",
              show_default=True)  # fmt: skip
@common_options
@pass_ctx
def report(
    ctx: Context,
    selection: Selection,
    window: Any,
    until_text: str,
    now_text: str | None,
    out: str | None,
    fmt: str,
    concurrency: int,
) -> int:
    """Write one self-contained HTML page (or its JSON) of expected against actual runs: each
    schedule's slots, the load per minute against the platform's capacity, cost per day.

    Exit 0 written, 1 on any error (a target that could not be listed or its run log read:
    the page still shows the others, and says why).

    \b
    Example:
      schedctl report --since 7d --until +7d --out report.html
      schedctl report --now 2026-06-08T00:00:00Z --format json --out report.json
    """
    from reconciler.render.report import FORMATS
    from reconciler.report import build_report, ceil_days, cost_rules
    from reconciler.upcoming import load_report

    now = parse_instant(now_text, "--now")
    until = _until(until_text, now)
    project, past = audited(ctx, selection, until=now, window=window, concurrency=concurrency)
    keys = [s.key for s in project.schedules if selection.keeps(s.key)]
    start, end = past.since, until.timestamp()
    loads = load_report(project, keys if selection.narrowed else [], now - window,
                        ceil_days(start, end))  # fmt: skip
    loads = loads if keys or not selection.narrowed else []
    rules = cost_rules(project.config)
    result = build_report(project, past, now=now.timestamp(), until=end, loads=loads, rules=rules)
    emit_to(FORMATS, fmt, result, ctx, out)
    say_target_errors(past.targets, project.config_file)
    return EXIT_ERROR if past.failed else EXIT_OK


def emit_to(formats: Formats[R], fmt: str, result: R, ctx: Context, out: str | None) -> None:
    """Like emit(), to a file when `out` names one."""
    from reconciler.render import Style

    if out is None or out == "-":
        emit(formats, fmt, result, ctx)
        return
    text = formats[fmt](result, Style()) or ""
    try:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    echo(f"wrote {out} ({len(text.encode()):,} bytes)", err=True)


# --- local runner: run (reconciler/runner) ----------------------------------------------------


def _runner_logging(verbose: int) -> None:
    """The runner's decisions (missed slots, reloads, auto-disable) go to stderr as log lines."""
    import logging

    logger = logging.getLogger("reconciler.runner")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


@cli.command("run")
@common_paths
@click.option(
    "--db",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Runs database (default: .schedctl/runs.db next to the config, else in the current directory).",
)
@store_options
@seconds_option(
    "--lease", 30.0, 1, "a replica may fall silent before the others interrupt its runs "
    "(renewed every third of it)."
)  # fmt: skip
@defaulted(
    "--executor",
    default="print",
    metavar="SPEC",
    help='What a run does: print | command:"CMD" | http:URL | openai:URL.',
)
@defaulted(
    "--max-concurrent",
    default=3,
    type=click.IntRange(min=1),
    help="Runs at once; more due runs queue.",
)
@defaulted(
    "--missed",
    type=click.Choice(["once", "skip"]),
    default="once",
    help="A slot missed while the runner was down: fire it once at start, or skip it.",
)
@click.option(
    "--semantics",
    type=PlatformChoice(),
    help="Whose run rules apply (default: the chosen target's platform).",
)
@seconds_option("--timeout", 600.0, 0.1, "one run may take (command, http, openai).")
@seconds_option("--grace", 30.0, 0, "running runs get to finish after Ctrl-C / SIGTERM.")
@click.option("--watch", is_flag=True, help="Reload when schedule files change.")
@click.option(
    "--once",
    "once",
    metavar="NAME",
    help="Fire NAME once now (trigger manual) and exit: 0 ok, 1 not.",
)
@click.option(
    "--simulate",
    "window",
    metavar="FROM..UNTIL",
    help="Virtual clock over the window, no waiting; prints the timeline. "
    "Writes nothing to runs.db unless --db is given.",
)
@defaulted(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="json: one object per run; with --simulate a list of {name, scheduled_for}.",
)
@common_options
@pass_ctx
def run_cmd(
    ctx: Context, /, paths: tuple[str, ...], store: str | None, store_env: str | None,
    **given: Any,
) -> int:  # fmt: skip
    """Run the schedules on this machine, each on time, with the platform's run rules.

    Which schedules: with --target T, those resolved for T; without, each key once, as
    resolved for the default target (the first of defaults.targets, else the first target).
    Every run is a row in the runs database (`schedctl runs --local`) and its output is kept
    under .schedctl/artifacts/RUN_ID/. With --store (PostgreSQL) any number of replicas share
    the database, and each slot fires once across them. Intervals under a minute are allowed locally (with a
    warning). Ctrl-C or SIGTERM: no new runs, running ones finish within --grace, exit 0.

    --simulate FROM..UNTIL fires what falls from FROM (included) to UNTIL (not included; ISO
    dates or times, naive ones UTC; `now`; UNTIL may be +7d) on a virtual clock, with the print
    executor unless --executor names another. It writes nothing to runs.db unless --db is
    given (then use a separate file: simulated slots count as fired).

    \b
    Example:
      schedctl run examples/ --target local
      schedctl run --executor 'command:./agent.sh' --max-concurrent 5 --watch
      schedctl run --once morning-digest
      schedctl run --simulate 2026-01-05..+7d --format json
      SCHEDCTL_STORE_URL=postgresql://… schedctl run --store-env SCHEDCTL_STORE_URL
    """
    import json
    from datetime import datetime, timezone

    from reconciler import runner
    from reconciler.runner import report
    from reconciler.runner.request import RunRequest

    # The other options are named as RunRequest's fields.
    store_url = _store_url(store, store_env, given["db"])
    request = RunRequest(
        paths=paths, config=ctx.config, targets=ctx.targets, store_url=store_url, **given
    )
    _runner_logging(ctx.verbose)
    selection = runner.load_selection(paths, request.config, request.target)
    say_warnings(selection.take_warnings())
    if selection.errors:
        from reconciler.errors import InvalidInput

        raise InvalidInput(selection.errors)
    if not selection.schedules:
        where = f" for target {request.target!r}" if request.target else ""
        fail(f"no schedules to run{where}")
    options = request.options(selection)

    def line(record: runner.RunRecord) -> None:
        echo(json.dumps(record.to_dict()) if request.json else report.run_line(record))

    if request.window:
        start, until = report.parse_window(request.window, datetime.now(timezone.utc))
        records = runner.simulate(
            selection.schedules, start, until, options, on_run=None if request.json else line
        )
        if request.json:
            echo(report.timeline_json(records))
        if not any(r.status != "skipped" for r in records):
            echo(report.empty_window(start, until), err=request.json)
        return EXIT_OK
    if request.once:
        record = runner.run_once(selection.schedules, request.once, options, on_run=line)
        return EXIT_OK if record.status == "ok" else EXIT_ERROR
    watched = list(request.paths) if request.mode == "watch" else None
    from reconciler.tuning import settle

    runner.run_schedules(
        selection, options, on_run=line, watch=watched, config=request.config, ready=settle
    )
    return EXIT_OK


# --- sandbox (reconciler/sandbox) -------------------------------------------------------------


@cli.command()
@click.option("--platform", type=PlatformChoice("sandbox"), required=True)
@defaulted("--host", default="127.0.0.1", help="Bind address (loopback by default).")
@defaulted("--port", default=0, type=click.IntRange(0, 65535), help="0: any free port.")
@defaulted("--db", default=":memory:", help="SQLite file; state survives restarts.")
@click.option("--token", help="Require `Authorization: Bearer TOKEN` (401 otherwise).")
@click.option("--seed", type=int, help="Make ids and injected faults reproducible.")
@defaulted(
    "--latency-ms",
    default=0,
    type=click.IntRange(0),
    help="Added to every request.",
)
@defaulted(
    "--fail-rate",
    default=0.0,
    type=float,
    help="Share answered 429/503 or dropped.",
)
@defaulted(
    "--ambiguous-rate",
    default=0.0,
    type=float,
    help="Share of creates committed, then dropped.",
)
@click.option("--page-size", type=click.IntRange(1), help="Page lists: {items, next_cursor}.")
@defaulted(
    "--retry-after",
    default=1.0,
    type=float,
    help="Retry-After seconds on refusals.",
)
@click.option(
    "--clock",
    "clock_kind",
    type=click.Choice(["real", "virtual"]),
    default="real",
    show_default=True,
    help="virtual: time moves only by POST /__sandbox/clock.",
)
@click.option("--start", help="Where a virtual clock starts (ISO timestamp; default now).")
@click.option(
    "--run-faults",
    type=click.Path(dir_okay=False, exists=True),
    help="JSON or YAML file: what runs produce (failure_rate, always_fail, ...).",
)
def sandbox(
    host: str, port: int, start: str | None, run_faults: str | None, **options: Any
) -> None:
    """Serve an emulated platform API (engine or aitroop) on loopback, stored in SQLite.

    Prints the base URL first, then serves until Ctrl-C. The OpenAPI document is at
    /openapi.json. Fault injection makes it a test bed for retries and convergence.

    \b
    Example:
      schedctl sandbox --platform aitroop --db sandbox.db --port 8080
      schedctl sandbox --platform engine --fail-rate 0.2 --ambiguous-rate 0.1 --seed 7
      schedctl sandbox --platform engine --clock virtual --seed 1 --run-faults faults.yaml
    """
    from reconciler.sandbox import SandboxOptions, serve
    from reconciler.sandbox.options import load_run_faults

    if host not in ("127.0.0.1", "localhost", "::1"):
        echo(f"warning: serving on {host}: the sandbox is reachable beyond this machine", err=True)
    try:
        # The other options are named as SandboxOptions' fields.
        opts = SandboxOptions(
            **options,
            start=None if start is None else _sandbox_start(start),
            runs=load_run_faults(run_faults),
        )
    except ValueError as exc:
        fail(str(exc))
    from reconciler.tuning import settle

    settle()  # a server from here on: the collector back on, what is loaded frozen
    serve(opts, host, port)


def _sandbox_start(text: str) -> datetime:
    from reconciler.sandbox.wire import parse_iso

    try:
        return parse_iso(text)
    except ValueError:
        raise ValueError(
            f"--start {text!r} is not an ISO 8601 timestamp, e.g. 2026-03-02T00:00:00Z"
        ) from None


# --- entry point ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the CLI: user errors become one clear message and exit 1, never a traceback.
    Commands return their exit code (or raise); only this prints an error and exits."""
    from reconciler.errors import InvalidInput, SchedctlError
    from reconciler.tuning import tuned

    try:
        with tuned():
            code = cli.main(args=argv, prog_name="schedctl", standalone_mode=False)
    except click.exceptions.Abort:
        echo("aborted", err=True)
        code = EXIT_ERROR
    except click.ClickException as exc:
        exc.show()
        code = EXIT_ERROR
    except InvalidInput as exc:
        if exc.diagnostics:  # one write: a big repository has thousands
            echo("\n".join(map(str, exc.diagnostics)), err=True)
        code = exc.exit_code
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
