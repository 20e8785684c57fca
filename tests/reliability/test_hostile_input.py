"""Hostile or wrong input is refused before any request, by every command, as a real process:
two targets on one collection, a password in a URL, a token in `token_env`, an alias bomb.

Each case runs `python -m reconciler` against a server that records every request: a sandbox
behind a recording proxy (so its state is checked raw too) or a stub that answers nothing.
The exact messages are the corpus's (tests/cases/invalid/config-*); the rules are unit-tested
in tests/loader/test_hostile_config.py.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.sandbox import RunningSandbox
from tests.conftest import run_cli
from tests.reliability.conftest import live
from tests.reliability.servers import Answer, Seen, Server, forwarding, serving

PLATFORMS = ("engine", "aitroop")  # the built-in ones, both served by the sandbox

OWNER = "hostile"
# Random-looking, so that any 8 characters of it showing up anywhere is a leak, not chance.
PASSWORD = "Wm4Qz8Rt2Lx6Vn0Kp9Hd3Yb7"
TOKEN = "ghp_Zq81x7Kp3Vw9Lm2Tr6Yb4Nc0Hd5Gj8FsA1"
SCHEDULES = {
    "a": 'name: alpha\nschedule: {daily: "09:00"}\naction: {prompt: Do alpha.}\n',
    "b": 'name: beta\nschedule: {daily: "10:00"}\naction: {prompt: Do beta.}\ntargets: [t2]\n',
}


def leaks(secret: str, text: str) -> list[str]:
    """Every 8-character piece of `secret` found in `text` (a truncated echo leaks too)."""
    return [secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in text]


def target(platform: str, url: str, extra: str = "") -> str:
    instance = ", instance: acme" if platform == "engine" else ""
    return f"{{platform: {platform}, url: '{url}'{instance}{extra}}}"


def write_repo(root: Path, targets: dict[str, str]) -> None:
    lines = [f"owner: {OWNER}", "defaults: {timezone: Europe/Rome, targets: [t]}", "targets:"]
    lines += [f"  {name}: {body}" for name, body in targets.items()]
    (root / "schedctl.yaml").write_text("\n".join(lines) + "\n")
    (root / "schedules").mkdir(exist_ok=True)


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(list(args), cwd=root, input="", env={"SCHEDCTL_T_TOKEN": "x"})


def refused(result: subprocess.CompletedProcess[str], line: str) -> None:
    """Exit 1, no traceback, and `line` among the diagnostics on stderr (or stdout)."""
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "Traceback" not in out, out
    assert line in out.splitlines(), f"{line!r} not in:\n{out}"


@pytest.fixture
def proxied(sandbox: RunningSandbox) -> Iterator[Server]:
    """The sandbox behind a proxy that records every request and changes none."""
    with forwarding(sandbox.url, lambda seen: None) as proxy:
        yield proxy


# ---------------------------------------------------------------------------------------------
# Two targets on one collection


def test_two_targets_on_one_collection_are_refused_by_every_command_with_no_request(
    tmp_path: Path, platform: str, sandbox: RunningSandbox, proxied: Server
) -> None:
    """`t` and `t2` spell one sandbox URL two ways (host case, default port absent, a trailing
    slash). Before: each apply --prune deleted the other's task and the next recreated it."""
    write_repo(tmp_path, {"t": target(platform, proxied.url)})
    (tmp_path / "schedules" / "a.yaml").write_text(SCHEDULES["a"])
    seeded = cli(tmp_path, "apply", "--auto-approve")
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    assert cli(tmp_path, "plan", "--out", "plan.json").returncode == 0
    before = sorted((t["id"], t["name"]) for t in live(sandbox, platform))
    assert len(before) == 1

    other = proxied.url.replace("http://", "HTTP://") + "//"
    write_repo(tmp_path, {"t": target(platform, proxied.url), "t2": target(platform, other)})
    (tmp_path / "schedules" / "b.yaml").write_text(SCHEDULES["b"])
    instance = ", instance 'acme'" if platform == "engine" else ""
    line = (
        f"schedctl.yaml:5:3: error: targets.t2: reaches the same {platform} collection as target "
        f"'t' (line 4): {proxied.url}/{instance}; each would delete the other's tasks when "
        "pruning. Keep one of them, or give this one its own URL, sandbox file or instance"
    )
    requests = len(proxied.seen)
    for args in (
        ["validate"],
        ["plan"],
        ["plan", "--prune", "--format", "json"],
        ["apply", "--auto-approve"],
        ["apply", "--auto-approve", "--prune", "--target", "t"],
        ["apply", "plan.json", "--auto-approve"],  # a plan saved before t2 was added
        ["status"],
        ["trigger", "alpha", "--target", "t"],
    ):
        refused(cli(tmp_path, *args), line)
    assert proxied.seen[requests:] == []
    assert sorted((t["id"], t["name"]) for t in live(sandbox, platform)) == before


def test_two_sandbox_targets_on_one_file_are_refused_and_the_sandbox_is_untouched(
    tmp_path: Path,
) -> None:
    write_repo(tmp_path, {"t": "{platform: engine, sandbox: .schedctl/sb.db}"})
    (tmp_path / "schedules" / "a.yaml").write_text(SCHEDULES["a"])
    seeded = cli(tmp_path, "apply", "--auto-approve")
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    db = tmp_path / ".schedctl" / "sb.db"
    snapshot = db.read_bytes()
    write_repo(
        tmp_path,
        {
            "t": "{platform: engine, sandbox: .schedctl/sb.db}",
            "t2": "{platform: engine, sandbox: ./.schedctl/sb.db, instance: local}",
        },
    )
    (tmp_path / "schedules" / "b.yaml").write_text(SCHEDULES["b"])
    line = (
        "schedctl.yaml:5:3: error: targets.t2: reaches the same engine collection as target 't' "
        "(line 4): sandbox file './.schedctl/sb.db', instance 'local'; each would delete the "
        "other's tasks when pruning. Keep one of them, or give this one its own URL, sandbox "
        "file or instance"
    )
    refused(cli(tmp_path, "apply", "--auto-approve", "--prune"), line)
    refused(cli(tmp_path, "plan"), line)
    assert db.read_bytes() == snapshot  # the sandbox did not even start


# ---------------------------------------------------------------------------------------------
# Secrets written into the config


@pytest.fixture
def stub() -> Iterator[Server]:
    """A server that must never be asked anything (it answers an empty listing if it is)."""

    def respond(seen: Seen) -> Answer:
        return Answer(200, b"[]")

    with serving(respond) as server:
        yield server


SECRET_CONFIGS = {
    "password in url": (
        "    url: '{scheme}://bob:{password}@{host}'\n    instance: acme\n",
        PASSWORD,
        "schedctl.yaml:5:10: error: targets.t.url: a URL must not hold a user name or password: "
        "tokens come only from the environment (name the variable in token_env, e.g. "
        "token_env: ENGINE_TOKEN)",
    ),
    "token in token_env": (
        "    url: '{scheme}://{host}'\n    instance: acme\n    token_env: {token}\n",
        TOKEN,
        "schedctl.yaml:7:16: error: targets.t.token_env: this looks like a token, not the name "
        "of an environment variable: keep the token in the environment and name its variable "
        "here, e.g. token_env: ENGINE_TOKEN (and revoke the token if this file was shared)",
    ),
}


@pytest.mark.parametrize(
    ("body", "secret", "line"), SECRET_CONFIGS.values(), ids=list(SECRET_CONFIGS)
)
def test_a_secret_in_the_config_is_refused_and_never_echoed(
    tmp_path: Path, stub: Server, body: str, secret: str, line: str
) -> None:
    scheme, host = stub.url.split("://")
    (tmp_path / "schedctl.yaml").write_text(
        f"owner: {OWNER}\ntargets:\n  t:\n    platform: engine\n"
        + body.format(scheme=scheme, host=host, password=PASSWORD, token=TOKEN)
    )
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "a.yaml").write_text(SCHEDULES["a"])
    outputs = []
    for args in (
        ["validate"],
        ["validate", "--format", "json"],
        ["validate", "--format", "github"],
        ["-vv", "plan"],
        ["-vv", "apply", "--auto-approve"],
        ["status"],
        ["runs", "alpha"],
        ["next", "alpha"],
        ["import", "--target", "t", "--out", "imported"],
    ):
        result = cli(tmp_path, *args)
        outputs.append(result.stdout + result.stderr)
        assert result.returncode == 1, (args, outputs[-1])
        assert "Traceback" not in outputs[-1]
        assert leaks(secret, outputs[-1]) == [], (args, outputs[-1])
    assert line in outputs[0].splitlines(), outputs[0]
    assert stub.seen == []
    assert not (tmp_path / "imported").exists()


# ---------------------------------------------------------------------------------------------
# Alias amplification


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_alias_bomb_validates_as_an_error_and_apply_sends_nothing(
    tmp_path: Path, stub: Server, platform: str
) -> None:
    """About 110 KB that used to expand to a 150 MB prompt and a 300 MB request body."""
    write_repo(tmp_path, {"t": target(platform, stub.url)})
    big = "Summarise everything. " * 4_600  # about 100 KB
    bomb = (
        f"name: bomb\nschedule: {{daily: '09:00'}}\naction: {{prompt: &p {big}}}\n"
        "description:\n" + "  - *p\n" * 1_500
    )
    (tmp_path / "schedules" / "bomb.yaml").write_text(bomb)
    assert (tmp_path / "schedules" / "bomb.yaml").stat().st_size < 120_000
    line = (
        "schedules/bomb.yaml:5:3: error: text expands to more than 4194304 characters through "
        "aliases (alias bomb?): repeat a long value in fewer places"
    )
    refused(cli(tmp_path, "validate"), line)
    refused(cli(tmp_path, "apply", "--auto-approve"), line)
    assert stub.seen == []
