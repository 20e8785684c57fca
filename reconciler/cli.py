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


def target_option(func: Any) -> Any:
    """`--target` and `--config` after the command too (`schedctl plan --target prod`)."""
    func = click.option(
        "--target",
        "local_targets",
        multiple=True,
        metavar="NAME",
        help="Only this target (repeatable).",
    )(func)
    return click.option("--config", "local_config", metavar="FILE", help="Config file.")(func)


def _with_targets(
    ctx: Context, local_targets: Sequence[str], local_config: str | None = None
) -> Context:
    ctx.targets = tuple(dict.fromkeys((*ctx.targets, *local_targets)))
    ctx.config = local_config or ctx.config
    return ctx


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
@target_option
@pass_ctx
def validate(
    ctx: Context,
    paths: tuple[str, ...],
    fmt: str,
    strict: bool,
    local_targets: tuple[str, ...],
    local_config: str | None,
) -> None:
    """Check schedule files offline: syntax, schema, meaning, each target's platform rules.

    \b
    Example:
      schedctl validate examples/ --format github
    """
    from reconciler.loader import load_project
    from reconciler.render import diagnostics as render
    from reconciler.validate import validate_project

    ctx = _with_targets(ctx, local_targets, local_config)
    ctx = _with_targets(ctx, local_targets, local_config)
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
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@target_option
@pass_ctx
def next_cmd(
    ctx: Context,
    names_or_paths: tuple[str, ...],
    count: int,
    start: str | None,
    fmt: str,
    local_targets: tuple[str, ...],
    local_config: str | None,
) -> None:
    """Show the next fire times of schedules, in their zone and in UTC.

    \b
    Example:
      schedctl next examples/ -n 3
      schedctl next morning-digest --from 2026-03-28T00:00:00Z --format json
    """
    import json

    from reconciler.upcoming import upcoming

    names, paths = split_names_and_paths(names_or_paths)
    project = load(_with_targets(ctx, local_targets, local_config), paths)
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


# --- reconcile: plan / apply / import / status / trigger / runs (issue 5) -----------------------


def _config_only(ctx: Context) -> tuple[Any, Any]:
    """(Config, root) for commands that need no schedule files (trigger, runs, saved plans)."""
    from pathlib import Path

    from reconciler.loader import find_config, load_config

    config_file = find_config((), ctx.config)
    if ctx.config and not Path(ctx.config).is_file():
        fail(f"{ctx.config}: config file not found")
    config, _, _, problems = load_config(config_file)
    for d in problems:
        echo(str(d), err=True)
    if problems:
        raise SystemExit(EXIT_ERROR)
    return config, (config_file.parent if config_file else Path.cwd())


def _one_target(ctx: Context, config: Any) -> str:
    if len(ctx.targets) == 1:
        return ctx.targets[0]
    if not ctx.targets and len(config.targets) == 1:
        return str(next(iter(config.targets)))
    fail(f"name one target with --target (the config has: {', '.join(config.targets)})")


def _color(ctx: Context) -> bool:
    return ctx.color and sys.stdout.isatty()


@cli.command()
@common_paths
@target_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False), help="Save the plan as JSON for `apply`."
)
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 2 when changes are pending, 0 when none."
)
@click.option(
    "--prune", is_flag=True, help="Plan deletes of this owner's objects the repository lacks."
)
@click.option("--allow-empty", is_flag=True, help="Let --prune empty a target with no schedules.")
@pass_ctx
def plan(
    ctx: Context,
    paths: tuple[str, ...],
    local_targets: tuple[str, ...],
    local_config: str | None,
    fmt: str,
    out_file: str | None,
    detailed_exitcode: bool,
    prune: bool,
    allow_empty: bool,
) -> None:
    """Show what apply would change on each target: + create, ~ update, - delete.

    \b
    Example:
      schedctl plan examples/ --detailed-exitcode
      schedctl plan --format markdown > plan.md
    """
    from datetime import datetime, timezone
    from pathlib import Path

    from reconciler.apply import make_plan
    from reconciler.render import plan as render
    from reconciler.targets import connect, select_targets

    project = load(_with_targets(ctx, local_targets, local_config), paths)
    names = select_targets(project, ctx.targets, every=prune)
    with connect(project.config, project.root, names) as conns:
        result = make_plan(project, conns, prune=prune, allow_empty=allow_empty)
    if out_file:
        Path(out_file).write_text(render.render_json(result) + "\n", encoding="utf-8")
    if fmt == "json":
        echo(render.render_json(result))
    elif fmt == "markdown":
        echo(render.render_markdown(result, datetime.now(timezone.utc)))
    else:
        click.echo(render.render_text(result, color=_color(ctx)), color=_color(ctx))
    if out_file and fmt == "text":
        echo(f"saved the plan to {out_file}: `schedctl apply {out_file}` carries it out")
    if result.failed:
        raise SystemExit(EXIT_ERROR)
    raise SystemExit(EXIT_PENDING if detailed_exitcode and result.pending else EXIT_OK)


@cli.command()
@common_paths
@target_option
@click.option(
    "--auto-approve", is_flag=True, help="Apply without asking (needed without a terminal)."
)
@click.option(
    "--prune", is_flag=True, help="Delete this owner's objects the repository no longer has."
)
@click.option("--allow-empty", is_flag=True, help="Let --prune empty a target with no schedules.")
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Writes in flight at once.",
)
@pass_ctx
def apply(
    ctx: Context,
    paths: tuple[str, ...],
    local_targets: tuple[str, ...],
    local_config: str | None,
    auto_approve: bool,
    prune: bool,
    allow_empty: bool,
    concurrency: int,
) -> None:
    """Make the targets match the repository (or carry out a saved plan.json).

    Every file is validated first: one invalid file anywhere and nothing is written. Each
    change gets a result line; on a terminal, more than five show a progress bar as well.

    \b
    Example:
      schedctl apply examples/ --auto-approve
      schedctl plan --out plan.json && schedctl apply plan.json
    """
    import json
    from pathlib import Path

    from reconciler.apply import apply_plan, check_fresh, make_plan
    from reconciler.plan import Plan
    from reconciler.render import plan as render
    from reconciler.render.progress import apply_progress
    from reconciler.targets import connect, select_targets

    _with_targets(ctx, local_targets, local_config)
    if not auto_approve and not sys.stdin.isatty():
        fail(
            "refusing to apply: no terminal to confirm on; pass --auto-approve to apply unattended"
        )
    color = _color(ctx)
    saved = len(paths) == 1 and paths[0].endswith(".json") and Path(paths[0]).is_file()
    if saved:
        try:
            the_plan = Plan.from_dict(json.loads(Path(paths[0]).read_text(encoding="utf-8")))
        except ValueError as exc:
            fail(f"{paths[0]}: not a saved plan: {exc}")
        if the_plan.config and not ctx.config:
            ctx.config = the_plan.config
        config, root = _config_only(ctx)
        names = [t.target for t in the_plan.targets]
    else:
        project = load(ctx, paths)
        config, root = project.config, project.root
        names = select_targets(project, ctx.targets, every=prune)
    with connect(config, root, names, concurrency=concurrency) as conns:
        if saved:
            check_fresh(the_plan, conns)
        else:
            the_plan = make_plan(project, conns, prune=prune, allow_empty=allow_empty)
        click.echo(render.render_text(the_plan, color=color), color=color)
        if not the_plan.pending:
            raise SystemExit(EXIT_ERROR if the_plan.failed else EXIT_OK)
        if not auto_approve and not click.confirm("\nApply these changes?", default=False):
            fail("apply cancelled: nothing was changed")
        echo()
        total = sum(len(t.changes) for t in the_plan.targets if not t.error)
        with apply_progress(total, color=ctx.color, verbose=ctx.verbose) as on_result:
            result = apply_plan(the_plan, conns, concurrency=concurrency, on_result=on_result)
    echo(render.render_apply(result))
    raise SystemExit(EXIT_OK if result.ok else EXIT_ERROR)


@cli.command("import")
@target_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Directory (default: schedules/TARGET).",
)
@click.option(
    "--adopt",
    is_flag=True,
    help="Mark the imported tasks as this owner's, so plan shows no change.",
)
@click.option("--select", "select", metavar="GLOB", help="Only tasks whose title or key matches.")
@pass_ctx
def import_cmd(
    ctx: Context,
    local_targets: tuple[str, ...],
    local_config: str | None,
    out_dir: str | None,
    adopt: bool,
    select: str | None,
) -> None:
    """Write the live tasks of a target as schedule files, one per task.

    \b
    Example:
      schedctl import --target prod --out schedules/prod --adopt
    """
    from datetime import datetime, timezone
    from pathlib import Path

    from reconciler.importer import import_target
    from reconciler.render.live import render_imported
    from reconciler.targets import connect

    config, root = _config_only(_with_targets(ctx, local_targets, local_config))
    name = _one_target(ctx, config)
    directory = Path(out_dir) if out_dir else root / "schedules" / name
    with connect(config, root, [name]) as conns:
        results = import_target(
            conns[name],
            directory,
            schema_root=root,
            now=datetime.now(timezone.utc),
            adopt=adopt,
            select=select,
        )
    echo(render_imported(results))
    raise SystemExit(EXIT_ERROR if any(r.status == "failed" for r in results) else EXIT_OK)


@cli.command()
@common_paths
@target_option
@pass_ctx
def status(
    ctx: Context, paths: tuple[str, ...], local_targets: tuple[str, ...], local_config: str | None
) -> None:
    """Every target and engine instance in one table: last and next run, errors, drift.

    \b
    Example:
      schedctl status --config examples/schedctl.yaml
    """
    from reconciler.render.live import render_status
    from reconciler.status import status_rows
    from reconciler.targets import connect, select_targets

    project = load(_with_targets(ctx, local_targets, local_config), paths)
    names = select_targets(project, ctx.targets, every=True)
    with connect(project.config, project.root, names) as conns:
        rows, problems = status_rows(project, conns)
    click.echo(render_status(rows, color=ctx.color), color=_color(ctx))
    for problem in problems:
        echo(f"error: {problem}", err=True)
    raise SystemExit(EXIT_ERROR if problems else EXIT_OK)


@cli.command()
@click.argument("name")
@target_option
@pass_ctx
def trigger(
    ctx: Context, name: str, local_targets: tuple[str, ...], local_config: str | None
) -> None:
    """Run a task on its platform now (NAME: a key, a title or an id).

    \b
    Example:
      schedctl trigger morning-digest --target local
    """
    import json

    from reconciler.status import find_task
    from reconciler.targets import connect

    config, root = _config_only(_with_targets(ctx, local_targets, local_config))
    target = _one_target(ctx, config)
    with connect(config, root, [target]) as conns:
        provider = conns[target].provider
        task = find_task(provider.list_tasks(), name, config.owner)
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


@cli.command()
@click.argument("name", required=False)
@target_option
@click.option(
    "-n",
    "count",
    default=20,
    show_default=True,
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
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@pass_ctx
def runs(
    ctx: Context,
    name: str | None,
    local_targets: tuple[str, ...],
    local_config: str | None,
    count: int,
    local: bool,
    db: str | None,
    store: str | None,
    store_env: str | None,
    fmt: str,
) -> None:
    """Run history: the platform's for a task (NAME --target T), or the local runner's (--local).

    \b
    Example:
      schedctl runs morning-digest --target local -n 5
      schedctl runs --local
      schedctl runs --local --store-env SCHEDCTL_STORE_URL
    """
    import json

    from reconciler.render.live import render_runs
    from reconciler.status import find_task
    from reconciler.targets import connect

    config, root = _config_only(_with_targets(ctx, local_targets, local_config))
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
        target = _one_target(ctx, config)
        with connect(config, root, [target]) as conns:
            provider = conns[target].provider
            records = provider.runs(find_task(provider.list_tasks(), name, config.owner).id, count)
    if fmt == "json":
        echo(json.dumps(records, indent=2, ensure_ascii=False))
    else:
        click.echo(render_runs(records, color=ctx.color), color=_color(ctx))


# --- local runner: run (issue 6; reconciler/runner) -------------------------------------------


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
    "--target",
    "run_targets",
    multiple=True,
    metavar="NAME",
    help="Run the schedules resolved for this target.",
)
@click.option(
    "--config", "run_config", metavar="FILE", help="Config file (default: ./schedctl.yaml)."
)
@click.option(
    "--db",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Runs database (default: .schedctl/runs.db next to the config, else in the current directory).",
)
@store_options
@click.option(
    "--lease",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds a replica may fall silent before the others interrupt its runs "
    "(renewed every third of it).",
)
@click.option(
    "--executor",
    default="print",
    show_default=True,
    metavar="SPEC",
    help='What a run does: print | command:"CMD" | http:URL | openai:URL.',
)
@click.option(
    "--max-concurrent",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="Runs at once; more due runs queue.",
)
@click.option(
    "--missed",
    type=click.Choice(["once", "skip"]),
    default="once",
    show_default=True,
    help="A slot missed while the runner was down: fire it once at start, or skip it.",
)
@click.option(
    "--semantics",
    type=click.Choice(["engine", "aitroop"]),
    help="Whose run rules apply (default: the chosen target's platform).",
)
@click.option(
    "--timeout",
    default=600.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds one run may take (command, http, openai).",
)
@click.option(
    "--grace",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds running runs get to finish after Ctrl-C / SIGTERM.",
)
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
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object per run; with --simulate a list of {name, scheduled_for}.",
)
@pass_ctx
def run_cmd(
    ctx: Context, paths: tuple[str, ...], run_targets: tuple[str, ...], run_config: str | None, db: str | None,
    store: str | None, store_env: str | None, lease: float, executor: str,
    max_concurrent: int, missed: str, semantics: str | None, timeout: float, grace: float, watch: bool,
    once: str | None, window: str | None, fmt: str,
) -> None:  # fmt: skip
    """Run the schedules on this machine, each on time, with the platform's run rules.

    Which schedules: with --target T, those resolved for T; without, each key once, as
    resolved for the default target (the first of defaults.targets, else the first target).
    Every run is a row in the runs database (`schedctl runs --local`) and its output is kept
    under .schedctl/artifacts/RUN_ID/. With --store (PostgreSQL) any number of replicas share
    the database, and each slot fires once across them. Intervals under a minute are allowed locally (with a
    warning). Ctrl-C or SIGTERM: no new runs, running ones finish within --grace, exit 0.

    --simulate FROM..UNTIL fires what falls after FROM up to and including UNTIL (ISO dates
    or times, naive ones UTC; `now`; UNTIL may be +7d) on a virtual clock, with the print
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
    from pathlib import Path

    from reconciler import runner
    from reconciler.runner import report

    targets = tuple(dict.fromkeys((*ctx.targets, *run_targets)))
    ctx.config = run_config or ctx.config
    if len(targets) > 1:
        fail("run takes one --target")
    if sum(map(bool, (watch, once, window))) > 1:
        fail("--watch, --once and --simulate do not go together")
    url = _store_url(store, store_env, db)
    if url and window:
        fail("--simulate runs on a private clock: it writes to no shared --store (use --db FILE)")
    _runner_logging(ctx.verbose)
    target = targets[0] if targets else None
    selection = runner.load_selection(paths, ctx.config, target)
    for d in selection.warnings:
        echo(str(d), err=True)
    if selection.errors:
        for d in selection.errors:
            echo(str(d), err=True)
        raise SystemExit(EXIT_ERROR)
    if not selection.schedules:
        fail("no schedules to run" + (f" for target {target!r}" if target else ""))
    default_db = None if window else selection.root / ".schedctl" / "runs.db"
    options = runner.RunnerOptions(
        db_path=Path(db) if db else default_db,
        store_url=url,
        lease=lease,
        executor=executor,
        max_concurrent=max_concurrent,
        missed="skip" if missed == "skip" else "once",
        semantics=runner.semantics_for_platform(semantics or selection.platform).name,
        timeout=timeout,
        grace=grace,
    )

    def line(record: runner.RunRecord) -> None:
        echo(json.dumps(record.to_dict()) if fmt == "json" else report.run_line(record))

    if window:
        start, until = report.parse_window(window, datetime.now(timezone.utc))
        records = runner.simulate(
            selection.schedules, start, until, options, on_run=None if fmt == "json" else line
        )
        if fmt == "json":
            echo(report.timeline_json(records))
        return
    if once:
        record = runner.run_once(selection.schedules, once, options, on_run=line)
        raise SystemExit(EXIT_OK if record.status == "ok" else EXIT_ERROR)
    runner.run_schedules(
        selection, options, on_run=line, watch=list(paths) if watch else None, config=ctx.config
    )


# --- sandbox (reconciler/sandbox) -------------------------------------------------------------


@cli.command()
@click.option("--platform", type=click.Choice(["engine", "aitroop"]), required=True)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Bind address (loopback by default)."
)
@click.option(
    "--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="0: any free port."
)
@click.option(
    "--db", default=":memory:", show_default=True, help="SQLite file; state survives restarts."
)
@click.option("--token", help="Require `Authorization: Bearer TOKEN` (401 otherwise).")
@click.option("--seed", type=int, help="Make ids and injected faults reproducible.")
@click.option(
    "--latency-ms",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Added to every request.",
)
@click.option(
    "--fail-rate",
    default=0.0,
    show_default=True,
    type=float,
    help="Share answered 429/503 or dropped.",
)
@click.option(
    "--ambiguous-rate",
    default=0.0,
    show_default=True,
    type=float,
    help="Share of creates committed, then dropped.",
)
@click.option("--page-size", type=click.IntRange(1), help="Page lists: {items, next_cursor}.")
@click.option(
    "--retry-after",
    default=1.0,
    show_default=True,
    type=float,
    help="Retry-After seconds on refusals.",
)
def sandbox(
    platform: str,
    host: str,
    port: int,
    db: str,
    token: str | None,
    seed: int | None,
    latency_ms: int,
    fail_rate: float,
    ambiguous_rate: float,
    page_size: int | None,
    retry_after: float,
) -> None:
    """Serve an emulated platform API (engine or aitroop) on loopback, stored in SQLite.

    Prints the base URL first, then serves until Ctrl-C. The OpenAPI document is at
    /openapi.json. Fault injection makes it a test bed for retries and convergence.

    \b
    Example:
      schedctl sandbox --platform aitroop --db sandbox.db --port 8080
      schedctl sandbox --platform engine --fail-rate 0.2 --ambiguous-rate 0.1 --seed 7
    """
    from reconciler.sandbox import SandboxOptions, serve

    if host not in ("127.0.0.1", "localhost", "::1"):
        echo(f"warning: serving on {host}: the sandbox is reachable beyond this machine", err=True)
    try:
        opts = SandboxOptions(
            platform=platform,  # type: ignore[arg-type]  # click.Choice checked it
            db=db,
            token=token,
            seed=seed,
            latency_ms=latency_ms,
            fail_rate=fail_rate,
            ambiguous_rate=ambiguous_rate,
            page_size=page_size,
            retry_after=retry_after,
        )
    except ValueError as exc:
        fail(str(exc))
    serve(opts, host, port)


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
