"""The reliability figures of the README, counted from real runs (bench/reliability_tally.py
prints them; test_tally.py runs the fast variant so this machinery is itself checked).

Every run is `python -m reconciler` as a user runs it, against the sandbox as a real loopback
server (through a proxy where something must be added or counted) or a stub server:

    inputs     the invalid corpus (tests/cases/invalid), hostile configs, malformed live
               objects through plan / apply / status / import: each run is clean when it
               exits as it should, says what it should and prints no traceback
    faults     changes applied under the sandbox's injected faults until converged; a proxy
               counts the faults it passes on; then the live set is compared with the desired
               one by marker
    secrets    stubs (and a sandbox) that echo the token in every form: every output, -v log,
               saved plan and imported file is searched for every form

It lives here rather than in bench/ because it reuses this suite's helpers (stub servers, raw
readers, the corpus parser, the malformed shapes, the token forms) instead of copying them.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml

from reconciler.http import Redactor
from reconciler.sandbox import RunningSandbox, SandboxOptions, running_sandbox
from tests.conftest import run_cli
from tests.loader.test_invalid_cases import CASES, Case, check_text
from tests.reconcile.conftest import OWNER, Repo, prompt_doc, tasks_path
from tests.reliability.conftest import live, owned_keys
from tests.reliability.servers import DROP, Answer, Seen, Server, serving
from tests.reliability.test_hostile_input import PASSWORD, SECRET_CONFIGS
from tests.reliability.test_hostile_input import TOKEN as CONFIG_TOKEN
from tests.reliability.test_hostile_input import target as target_yaml
from tests.reliability.test_security import (
    ECHO_COMMANDS,
    FORMS_TOKEN,
    form_echoing_engine,
    token_forms,
)
from tests.reliability.test_unreadable_objects import bad_objects, shown_id

PLATFORMS = ("engine", "aitroop")
Proc = subprocess.CompletedProcess[str]


@dataclass
class Tally:
    tried: int = 0
    clean: int = 0
    tracebacks: int = 0
    unclean: list[str] = field(default_factory=list)  # what each unclean run got wrong
    faults: int = 0
    fault_changes: int = 0
    applies: int = 0
    unconverged: int = 0  # fault runs whose last apply still failed
    duplicates: int = 0
    lost: int = 0
    left_over: int = 0
    texts_searched: int = 0
    leaks: int = 0
    leaked: list[str] = field(default_factory=list)

    def input_run(self, what: str, proc: Proc, problem: str | None) -> None:
        """One run on a bad input; `problem` says what was wrong with its answer, if anything."""
        self.tried += 1
        out = proc.stdout + proc.stderr
        if "Traceback" in out:
            self.tracebacks += 1
            problem = problem or "traceback"
        if problem is None:
            self.clean += 1
        else:
            self.unclean.append(f"{what}: {problem}")

    @property
    def failing(self) -> list[str]:
        figures = {
            "tracebacks": self.tracebacks,
            "duplicates": self.duplicates,
            "lost objects": self.lost,
            "left over": self.left_over,
            "fault runs not converged": self.unconverged,
            "secret leaks": self.leaks,
        }
        return [name for name, value in figures.items() if value]


def cli(root: Path, *args: str, env: dict[str, str] | None = None) -> Proc:
    return run_cli(list(args), cwd=root, input="", env=env)


def expect(proc: Proc, code: int, *lines: str, contains: Sequence[str] = ()) -> str | None:
    """None when `proc` exited `code` and printed each of `lines` (whole) and `contains`."""
    out = proc.stdout + proc.stderr
    if proc.returncode != code:
        return f"exit {proc.returncode}, not {code}"
    shown = out.splitlines()
    missing = [line for line in lines if line not in shown]
    missing += [text for text in contains if text not in out]
    return f"did not say {missing[0]!r}" if missing else None


# ---------------------------------------------------------------------------------------------
# Hostile and invalid input


def corpus_case(case: Case) -> tuple[Proc, str | None]:
    cwd, args = case.command("text")
    proc = run_cli(args, cwd=cwd)
    if proc.returncode != 1:
        return proc, f"exit {proc.returncode}, not 1"
    try:
        check_text(case, proc.stdout)
    except AssertionError:
        return proc, "not the expected diagnostics"
    return proc, None


def run_corpus(tally: Tally, step: int) -> None:
    cases = CASES[::step]
    with ThreadPoolExecutor(4) as pool:
        for case, (proc, problem) in zip(cases, pool.map(corpus_case, cases), strict=True):
            tally.input_run(f"corpus {case.stem}", proc, problem)


@contextmanager
def recording_stub() -> Iterator[Server]:
    """A server that should never be asked anything (it answers an empty listing if it is)."""
    with serving(lambda seen: Answer(200, b"[]")) as server:
        yield server


COMMANDS = (
    ["validate"],
    ["plan"],
    ["plan", "--prune", "--format", "json"],
    ["apply", "--auto-approve"],
    ["apply", "--auto-approve", "--prune"],
    ["status"],
    ["import", "--target", "t", "--out", "imported"],
)


def hostile_repo(root: Path, config: str, schedules: dict[str, str]) -> None:
    root.mkdir(parents=True)
    (root / "schedctl.yaml").write_text(config)
    (root / "schedules").mkdir()
    for name, text in schedules.items():
        (root / "schedules" / f"{name}.yaml").write_text(text)


ALPHA = 'name: alpha\nschedule: {daily: "09:00"}\naction: {prompt: Do alpha.}\n'


def hostile_configs(stub_url: str) -> list[tuple[str, str, dict[str, str], str, str]]:
    """(name, config, schedules, a line or text the answer must hold, a secret or "")."""
    scheme, host = stub_url.split("://")
    out: list[tuple[str, str, dict[str, str], str, str]] = []
    for name, (body, secret, line) in SECRET_CONFIGS.items():
        text = f"owner: {OWNER}\ntargets:\n  t:\n    platform: engine\n" + body.format(
            scheme=scheme, host=host, password=PASSWORD, token=CONFIG_TOKEN
        )
        out.append((name, text, {"a": ALPHA}, line, secret))
    for platform in PLATFORMS:
        two = (
            f"owner: {OWNER}\ndefaults: {{timezone: Europe/Rome, targets: [t]}}\ntargets:\n"
            f"  t: {target_yaml(platform, stub_url)}\n"
            f"  t2: {target_yaml(platform, stub_url.replace('http://', 'HTTP://') + '//')}\n"
        )
        said = f"targets.t2: reaches the same {platform} collection as target 't' (line 4)"
        out.append((f"two targets, one {platform} collection", two, {"a": ALPHA}, said, ""))
        bomb = (
            f"name: bomb\nschedule: {{daily: '09:00'}}\naction: {{prompt: &p {'Sum. ' * 20_000}}}"
            "\ndescription:\n" + "  - *p\n" * 1_500
        )
        one = f"owner: {OWNER}\ndefaults: {{targets: [t]}}\ntargets:\n  t: {target_yaml(platform, stub_url)}\n"
        out.append((f"alias bomb, {platform}", one, {"bomb": bomb}, "(alias bomb?)", ""))
    for glob in ("", ".", "./", "a**", "schedules/**.yaml"):
        config = f"owner: {OWNER}\nschedules: ['{glob}']\ntargets:\n  t: {target_yaml('engine', stub_url)}\n"
        out.append((f"glob {glob!r}", config, {"a": ALPHA}, f"schedule glob {glob!r}", ""))
    for instance in ("a?b", "a#b", "a/b", ".."):
        config = (
            f"owner: {OWNER}\ntargets:\n  t: {{platform: engine, url: '{stub_url}', "
            f"instance: '{instance}'}}\n"
        )
        out.append((f"instance {instance!r}", config, {"a": ALPHA}, "targets.t.instance", ""))
    return out


def pieces(secret: str) -> list[str]:
    """Every 8-character piece of `secret` (a truncated echo leaks too)."""
    return [secret[i : i + 8] for i in range(len(secret) - 7)]


def hostile_config_runs(n: int, work: Path, fast: bool) -> list[tuple[str, Proc, str | None]]:
    """The n-th hostile config through each command, against a stub of its own (so that a
    request reaching it is this config's)."""
    runs: list[tuple[str, Proc, str | None]] = []
    with recording_stub() as stub:
        name, config, schedules, said, secret = hostile_configs(stub.url)[n]
        root = work / f"hostile-{n}"
        hostile_repo(root, config, schedules)
        # `import` reads the config and the platform, not the schedule files: a bad schedule
        # file is not its error
        commands = COMMANDS[:2] if fast else COMMANDS
        if name.startswith("alias bomb"):
            commands = tuple(c for c in commands if c[0] != "import")
        for args in commands:
            seen = len(stub.seen)
            proc = cli(root, *args, env={"SCHEDCTL_T_TOKEN": "x"})
            problem = expect(proc, 1, contains=[said])
            if problem is None and len(stub.seen) > seen:
                problem = "sent a request"
            if problem is None and (root / "imported").exists():
                problem = "wrote files"
            out = proc.stdout + proc.stderr
            if problem is None and secret and any(p in out for p in pieces(secret)):
                problem = "echoed the secret"
            runs.append((f"{name}: {' '.join(args)}", proc, problem))
    return runs


def run_hostile_configs(tally: Tally, work: Path, fast: bool) -> None:
    count = len(hostile_configs("http://127.0.0.1:1"))
    with ThreadPoolExecutor(4) as pool:
        for runs in pool.map(lambda n: hostile_config_runs(n, work, fast), range(count)):
            for what, proc, problem in runs:
                tally.input_run(what, proc, problem)


@contextmanager
def injecting(sandbox: RunningSandbox, platform: str) -> Iterator[Server]:
    """A proxy to the sandbox that adds the malformed objects to every listing of the tasks
    (the sandbox validates what it stores, so it cannot hold them itself)."""
    extra = [task for task, _ in bad_objects(platform)]
    path = tasks_path(platform)
    with httpx.Client(base_url=sandbox.url, timeout=30) as upstream:

        def respond(seen: Seen) -> Answer:
            got = upstream.request(
                seen.method,
                seen.path,
                content=seen.body or None,
                headers={"content-type": seen.headers.get("content-type", "application/json")},
            )
            if seen.method != "GET" or urlsplit(seen.path).path != path:
                return Answer(got.status_code, got.content)
            body = got.json()
            if isinstance(body, list):
                return Answer(200, json.dumps(body + extra).encode())
            return Answer(200, json.dumps({**body, "items": body["items"] + extra}).encode())

        with serving(respond) as proxy:
            yield proxy


def run_malformed_objects(tally: Tally, work: Path, platforms: Sequence[str]) -> None:
    """Each malformed object, through each command: named as unreadable with its reason, never
    written, the command exiting as it should (plan 2 and apply 1: a conflict on the key one of
    ours carries; status and import 0)."""
    for platform in platforms:
        with (
            running_sandbox(SandboxOptions(platform=platform, seed=0, retry_after=0)) as sandbox,
            injecting(sandbox, platform) as proxy,
        ):
            root = work / f"malformed-{platform}"
            root.mkdir()
            repo = Repo(root, proxy.url, platform)
            repo.write("a", prompt_doc("alpha"), prompt_doc("beta"), prompt_doc("gamma"))
            runs = {
                "plan": (cli(root, "plan", "--detailed-exitcode"), 2),
                "apply": (cli(root, "apply", "--auto-approve", "--prune"), 1),
                "status": (cli(root, "status"), 0),
                "import": (cli(root, "import", "--target", "t", "--out", "imported"), 0),
            }
            written = [s.path for s in proxy.seen if s.method != "GET" and "/bad-" in s.path]
            for task, why in bad_objects(platform):
                for command, (proc, code) in runs.items():
                    problem = expect(proc, code)
                    if problem is None and command == "import":
                        theirs = "team-b" in str(task.get("description", task["name"]))
                        if ("owned by 'team-b'" if theirs else why) not in proc.stdout:
                            problem = "not reported"
                    elif problem is None:
                        named = re.compile(
                            f"unreadable live object id {re.escape(shown_id(task))}[ :]"
                        )
                        line = next((x for x in proc.stdout.splitlines() if named.search(x)), "")
                        if why not in line:
                            problem = "not shown as unreadable with its reason"
                    if problem is None and any(f"/{task['id']}" in p for p in written):
                        problem = "written to"
                    what = f"malformed {platform} object {shown_id(task)}: {command}"
                    tally.input_run(what, proc, problem)


# ---------------------------------------------------------------------------------------------
# Faults


@contextmanager
def counting(base_url: str) -> Iterator[tuple[Server, Counter[str]]]:
    """A proxy in front of a sandbox that passes its answers on and counts the faults among
    them: 429 and 503 answers, and connections dropped (a refusal or an ambiguous create)."""
    faults: Counter[str] = Counter()
    with httpx.Client(base_url=base_url, timeout=30) as upstream:

        def respond(seen: Seen) -> Answer:
            try:
                got = upstream.request(
                    seen.method,
                    seen.path,
                    content=seen.body or None,
                    headers={k: v for k, v in seen.headers.items() if k in ("content-type",)},
                )
            except httpx.TransportError:
                faults[f"{seen.method} dropped"] += 1
                return DROP
            if got.status_code in (429, 503):
                faults[str(got.status_code)] += 1
            headers = {k: v for k, v in got.headers.items() if k in ("retry-after", "link")}
            return Answer(got.status_code, got.content, headers)

        with serving(respond) as proxy:
            yield proxy, faults


def compare(tally: Tally, desired: Counter[str], keys: Counter[str]) -> None:
    """Counts, from the live objects carrying our marker per key, copies beyond the first,
    desired keys with none, and keys with one that the repository no longer has."""
    tally.duplicates += sum(n - 1 for n in keys.values() if n > 1)
    tally.lost += sum(1 for key in desired if key not in keys)
    tally.left_over += sum(1 for key in keys if key not in desired)


def task_docs(start: int, stop: int, prompt: str | None = None) -> list[dict[str, Any]]:
    return [prompt_doc(f"task-{i:03d}", prompt) for i in range(start, stop)]


def run_faults(tally: Tally, work: Path, platform: str, size: int, max_applies: int = 6) -> None:
    """`size` tasks made without faults; then, under 20 % refused requests and 10 % ambiguous
    creates, size // 2 updated, size // 4 pruned and size created, applied until a plan is
    clean; then the live objects carrying our marker are compared with the desired keys."""
    with running_sandbox(SandboxOptions(platform=platform, seed=11, retry_after=0)) as sandbox:
        root = work / f"faults-{platform}"
        root.mkdir()
        with counting(sandbox.url) as (proxy, faults):
            repo = Repo(root, proxy.url, platform)
            repo.write("a", *task_docs(0, size))
            seeded = cli(root, "apply", "--auto-approve")
            if seeded.returncode != 0:
                raise RuntimeError(f"seeding failed:\n{seeded.stdout}{seeded.stderr}")
            half, quarter = size // 2, size // 4
            repo.write("a", *task_docs(0, half, "updated"), *task_docs(half, size - quarter))
            repo.write("b", *task_docs(size, 2 * size))
            desired = Counter(
                f"task-{i:03d}" for i in [*range(size - quarter), *range(size, 2 * size)]
            )
            tally.fault_changes += half + quarter + size
            sandbox.set_faults(fail_rate=0.2, ambiguous_rate=0.1)
            for _ in range(max_applies):
                tally.applies += 1
                args = ["apply", "--auto-approve", "--prune", "--concurrency", "16"]
                if cli(root, *args).returncode == 0:
                    break
            else:
                tally.unconverged += 1
            # Converged means a plan with nothing left to do (the faults are off by now).
            if cli(root, "plan", "--prune", "--detailed-exitcode").returncode != 0:
                tally.unconverged += 1
            sandbox.set_faults(fail_rate=0.0, ambiguous_rate=0.0)
            tally.faults += sum(faults.values())
        compare(tally, desired, owned_keys(platform, live(sandbox, platform), OWNER))
        updated = [t for t in live(sandbox, platform) if '"updated"' in json.dumps(t)]
        if len(updated) < half:  # the faults hid an update: as good as lost
            tally.lost += half - len(updated)


# ---------------------------------------------------------------------------------------------
# Secrets


def every_form(token: str) -> list[str]:
    """The forms the Redactor knows, those test_security enumerates, and 8-character pieces."""
    return sorted(
        set(Redactor([token]).forms) | set(token_forms(token).values()) | set(pieces(token))
    )


def search(tally: Tally, texts: Sequence[tuple[str, str]], token: str) -> int:
    """Count each text in which any form of `token` shows; returns how many show a mask."""
    forms = every_form(token)
    masked = 0
    for where, text in texts:
        tally.texts_searched += 1
        found = [f for f in forms if f in text]
        if found:
            tally.leaks += 1
            tally.leaked.append(f"{where}: {found[0]!r}")
        masked += "***" in text or "%2A%2A%2A" in text
    return masked


def written_files(root: Path) -> list[tuple[str, str]]:
    paths = [*root.glob("*.json"), *root.glob("imported/*.yaml")]
    return [(str(p.relative_to(root)), p.read_text(encoding="utf-8")) for p in paths]


def tokened(repo: Repo, env: str) -> None:
    config = yaml.safe_load(repo.config.read_text())
    config["targets"]["t"]["token_env"] = env
    repo.config.write_text(yaml.safe_dump(config, sort_keys=False))


TOKEN_ENV = "SCHEDCTL_TALLY_TOKEN"


def echoed(work: Path, mode: str, verbosity: list[str]) -> list[tuple[str, str]]:
    """What the commands of one echoing stub's mode print and write: (where, text)."""
    root = work / f"echo-{mode}{''.join(verbosity)}"
    root.mkdir()
    with serving(form_echoing_engine(mode)) as server:
        repo = Repo(root, server.url, "engine")
        tokened(repo, TOKEN_ENV)
        repo.write("a", prompt_doc("alpha"))
        env = {TOKEN_ENV: FORMS_TOKEN}
        procs = [cli(root, *verbosity, *args, env=env) for args in ECHO_COMMANDS[mode]]
    if not server.seen:
        raise RuntimeError(f"the {mode} stub was never asked: nothing was echoed")
    texts = [(f"{mode} {' '.join(p.args[3:])}", p.stdout + p.stderr) for p in procs]
    return texts + written_files(root)


def run_secrets(tally: Tally, work: Path, fast: bool) -> None:
    verbosities: list[list[str]] = [["-vv"]] if fast else [[], ["-v"], ["-vv"]]
    modes = ["fields", "error-text", "post-302"] if fast else list(ECHO_COMMANDS)
    masked = 0
    runs = [(mode, v) for mode in modes for v in verbosities]
    with ThreadPoolExecutor(4) as pool:
        for texts in pool.map(lambda run: echoed(work, *run), runs):
            masked += search(tally, texts, FORMS_TOKEN)
    # The sandbox with a token: every command, every verbosity, plans and imported files.
    token = "Zq81x7Kp3Vw9Lm2Tr6Yb4Nc0Hd5Gj8Fs"
    with running_sandbox(
        SandboxOptions(platform="aitroop", seed=0, retry_after=0, token=token)
    ) as sandbox:
        root = work / "sandbox-token"
        root.mkdir()
        repo = Repo(root, sandbox.url, "aitroop")
        tokened(repo, TOKEN_ENV)
        repo.write("a", prompt_doc("alpha"), prompt_doc("beta"))
        env = {TOKEN_ENV: token}
        commands = [
            ["plan", "--out", "plan.json"],
            ["apply", "--auto-approve"],
            ["status"],
            ["trigger", "alpha", "--target", "t"],
            ["runs", "alpha", "--target", "t"],
            ["import", "--target", "t", "--out", "imported"],
        ]
        texts = []
        for v in verbosities:
            for args in commands:
                proc = cli(root, *v, *args, env=env)
                if proc.returncode != 0:
                    raise RuntimeError(f"{args}: exit {proc.returncode}\n{proc.stderr}")
                texts.append((f"sandbox {' '.join(proc.args[3:])}", proc.stdout + proc.stderr))
        search(tally, texts + written_files(root), token)
    if not masked:
        raise RuntimeError("no echo was seen masked: the stubs did not echo the token")


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    corpus_step: int  # every n-th corpus case
    fault_tasks: int  # tasks made before the fault run (it changes 1.75 times as many)
    platforms: tuple[str, ...]
    fast: bool


FULL = Size(corpus_step=1, fault_tasks=120, platforms=PLATFORMS, fast=False)
FAST = Size(corpus_step=25, fault_tasks=16, platforms=("aitroop",), fast=True)


def tally(size: Size, progress: Callable[[str], None] = lambda _: None) -> Tally:
    result = Tally()
    with tempfile.TemporaryDirectory(prefix="schedctl-tally-") as tmp:
        work = Path(tmp)
        steps: list[tuple[str, Callable[[], None]]] = [
            ("invalid corpus", lambda: run_corpus(result, size.corpus_step)),
            ("hostile configs", lambda: run_hostile_configs(result, work, size.fast)),
            ("malformed live objects", lambda: run_malformed_objects(result, work, size.platforms)),
            *(
                (f"faults on {p}", lambda p=p: run_faults(result, work, p, size.fault_tasks))  # type: ignore[misc]
                for p in size.platforms
            ),
            ("echoed secrets", lambda: run_secrets(result, work, size.fast)),
        ]
        for name, step in steps:
            progress(name)
            step()
    return result


def table(t: Tally, size: Size) -> str:
    corpus = len(CASES[:: size.corpus_step])
    platforms = " and ".join(size.platforms)
    rows = [
        ("inputs tried", t.tried,
         f"runs of `python -m reconciler` on bad input: {corpus} invalid-corpus cases, hostile "
         f"configs through each command, malformed live objects ({platforms}) x plan, apply, "
         "status, import"),
        ("clean errors", t.clean,
         "runs that exited as they should (1 for bad input), printed the expected message, "
         "sent no request and wrote nothing they should not"),
        ("tracebacks", t.tracebacks, "runs whose stdout or stderr holds `Traceback`"),
        ("faults survived", t.faults,
         f"429 / 503 answers and dropped connections (refused requests, ambiguous creates) "
         f"injected by the sandbox at 20 % / 10 % and counted at a proxy, while {t.fault_changes} "
         f"changes on {platforms} were applied (in {t.applies} applies, each run repeated until one exited 0 and a plan was clean)"),
        ("duplicates", t.duplicates, "extra live objects carrying our marker for one key"),
        ("lost objects", t.lost,
         "desired keys with no live object carrying our marker, or an update not live"),
        ("left over", t.left_over, "live objects carrying our marker for a pruned key"),
        ("secret leaks", t.leaks,
         f"of {t.texts_searched} outputs (quiet, -v, -vv), saved plans and imported files, those "
         "holding any form of the token (raw, JSON, percent-encoded, base64, Basic, any 8 "
         "characters of it) echoed by stubs and sent to a sandbox"),
    ]  # fmt: skip
    lines = ["| figure | value | how counted |", "|---|---|---|"]
    lines += [f"| {name} | {value} | {how} |" for name, value, how in rows]
    return "\n".join(lines)
