"""One failing target does not hide the others: a missing token variable, a refused connection
and a 401 each stay on their own target's line while the healthy target is planned, applied and
shown; the exit code is 1. A refused connection is reported at once, naming the URL."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.errors import ApiError
from reconciler.http import ApiClient, RetryPolicy, client_for
from reconciler.model import Target
from reconciler.sandbox import RunningSandbox, SandboxOptions, running_sandbox
from tests.conftest import run_cli
from tests.reconcile.conftest import prompt_doc, tasks_path
from tests.reconcile.test_reconcile_sandbox import raw_list
from tests.reliability.servers import Answer, serving

TOKEN = "tok-3f9a-the-right-one"


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def four_targets(tmp_path: Path) -> Iterator[tuple[Path, RunningSandbox, RunningSandbox, int]]:
    """good (a sandbox), notoken (its variable unset), refused (nothing listening), denied (a
    sandbox wanting another token); one schedule for each."""
    port = closed_port()
    with (
        running_sandbox(SandboxOptions(platform="engine", retry_after=0)) as good,
        running_sandbox(SandboxOptions(platform="aitroop", token=TOKEN, retry_after=0)) as secured,
    ):
        config = {
            "owner": "team-a",
            "schedules": ["schedules/*.yaml"],
            "defaults": {"timezone": "UTC"},
            "targets": {
                "good": {"platform": "engine", "url": good.url, "instance": "acme"},
                "notoken": {
                    "platform": "engine",
                    "url": "https://engine.example.com",
                    "instance": "acme",
                    "token_env": "SCHEDCTL_T_UNSET",
                },
                "refused": {"platform": "aitroop", "url": f"http://127.0.0.1:{port}"},
                "denied": {"platform": "aitroop", "url": secured.url, "token_env": "SCHEDCTL_T_DENIED"},
            },
        }  # fmt: skip
        (tmp_path / "schedules").mkdir()
        (tmp_path / "schedctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        docs = [{**prompt_doc(f"task-{name}"), "targets": [name]} for name in config["targets"]]
        (tmp_path / "schedules" / "all.yaml").write_text(yaml.safe_dump_all(docs))
        yield tmp_path, good, secured, port


ENV = {"SCHEDCTL_T_UNSET": "", "SCHEDCTL_T_DENIED": "not-" + TOKEN}


def cli(root: Path, *args: str) -> Any:
    return run_cli(list(args), cwd=root, env=ENV, input="")


def line_of(output: str, target: str) -> str:
    """The one line about `target` that says what went wrong (or what is planned)."""
    (line,) = [x for x in output.splitlines() if x.startswith(f"target {target} ")]
    return line


def test_the_json_plan_carries_each_targets_error_and_the_healthy_plan(
    four_targets: tuple[Path, RunningSandbox, RunningSandbox, int],
) -> None:
    root, _, _, port = four_targets
    proc = cli(root, "plan", "--format", "json")
    assert proc.returncode == 1
    targets = {t["target"]: t for t in json.loads(proc.stdout)["targets"]}
    assert list(targets) == ["good", "notoken", "refused", "denied"]  # the config's order
    assert targets["good"]["error"] is None and targets["good"]["summary"]["create"] == 1
    assert "SCHEDCTL_T_UNSET is not set" in targets["notoken"]["error"]
    assert f"nothing listening at http://127.0.0.1:{port}?" in targets["refused"]["error"]
    assert "check SCHEDCTL_T_DENIED" in targets["denied"]["error"]


def check_failures(output: str, port: int) -> None:
    assert "SCHEDCTL_T_UNSET is not set" in line_of(output, "notoken")
    assert f"nothing listening at http://127.0.0.1:{port}?" in line_of(output, "refused")
    denied = line_of(output, "denied")
    assert "401" in denied and "check SCHEDCTL_T_DENIED" in denied
    assert TOKEN not in output


def test_plan_plans_the_healthy_target_and_reports_each_failure_on_its_line(
    four_targets: tuple[Path, RunningSandbox, RunningSandbox, int],
) -> None:
    root, _, secured, port = four_targets
    proc = cli(root, "plan")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ERROR" not in line_of(proc.stdout, "good") and "task-good" in proc.stdout
    check_failures(proc.stdout, port)
    assert "Traceback" not in proc.stderr
    assert [m for m, _ in secured.request_log] == ["GET"]  # answered 401, never retried


def test_apply_applies_the_healthy_target_and_exits_1(
    four_targets: tuple[Path, RunningSandbox, RunningSandbox, int],
) -> None:
    root, good, secured, port = four_targets
    proc = cli(root, "apply", "--auto-approve")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    check_failures(proc.stdout, port)
    assert "+ good/task-good create: ok" in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("Apply incomplete: 1 created,")
    assert [t["name"] for t in raw_list(good, "engine")] == ["Task Good"]
    assert [m for m, _ in secured.request_log] == ["GET"]


def test_status_shows_the_healthy_target_and_names_each_failing_one(
    four_targets: tuple[Path, RunningSandbox, RunningSandbox, int],
) -> None:
    root, _, _, port = four_targets
    assert cli(root, "apply", "--auto-approve", "--target", "good").returncode == 0
    proc = cli(root, "status")
    assert proc.returncode == 1
    (row,) = [line for line in proc.stdout.splitlines() if line.startswith("good")]
    assert "task-good" in row and "in sync" in row
    errors = proc.stderr.splitlines()
    for target, words in (
        ("notoken", "SCHEDCTL_T_UNSET is not set"),
        ("refused", f"nothing listening at http://127.0.0.1:{port}?"),
        ("denied", "check SCHEDCTL_T_DENIED"),
    ):
        (line,) = [e for e in errors if f"target {target!r} (config schedctl.yaml)" in e]
        assert words in line


def test_a_refused_connection_is_reported_within_a_second(tmp_path: Path) -> None:
    port = closed_port()
    # The default policy: six attempts and backoff for other failures, which would take seconds.
    client = ApiClient(f"http://127.0.0.1:{port}", retry=RetryPolicy())
    started = time.monotonic()
    with client, pytest.raises(ApiError) as caught:
        client.request("GET", "api/scheduled-tasks")
    assert time.monotonic() - started < 1.0
    assert client.requests_sent == 2  # one quick retry: a server restarting gets its chance
    assert caught.value.status is None
    assert f"nothing listening at http://127.0.0.1:{port}?" in str(caught.value)


def test_a_refused_post_is_not_an_ambiguous_write() -> None:
    port = closed_port()
    with ApiClient(f"http://127.0.0.1:{port}") as client, pytest.raises(ApiError) as caught:
        client.request("POST", "api/scheduled-tasks", json_body={})
    assert type(caught.value) is ApiError  # refused: never sent, so it needs no re-listing
    assert "nothing listening" in str(caught.value)


@pytest.mark.parametrize("status", [401, 403])
def test_a_denied_request_names_the_token_variable(tmp_path: Path, status: int) -> None:
    with serving(lambda seen: Answer(status, b'{"message": "bad token"}')) as server:
        target = Target(platform="aitroop", url=server.url, token_env="SCHEDCTL_T_DENIED")
        with (
            client_for("prod", target, token="whatever") as client,
            pytest.raises(ApiError) as caught,
        ):
            client.request("GET", tasks_path("aitroop"))
    assert caught.value.status == status
    assert "bad token; check SCHEDCTL_T_DENIED (the token variable of target 'prod')" in str(
        caught.value
    )
