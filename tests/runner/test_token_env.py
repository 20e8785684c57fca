"""The targets' tokens stay with schedctl: a command run by the local runner does not get the
variables the config names as `token_env`, unless the schedule lists them in `pass_env`; the
http and openai executors send no target token anywhere. Real `schedctl run` processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reconciler.runner import Runner, RunnerOptions

from .conftest import FakeExecutor, RunnerProcess, db_rows, doc, item, schedctl, write_project
from .servers import serving

PROD_TOKEN = "prod-Zq81x7Kp3Vw9Lm2Tr6"
LOCAL_TOKEN = "local-Yb4Nc0Hd5Gj8Fs"
CONFIG: dict[str, Any] = {
    "defaults": {"timezone": "UTC", "targets": ["local"]},
    "targets": {
        "local": {"platform": "engine", "sandbox": ".schedctl/sandbox.db", "token_env": "LOCAL_TOKEN"},
        "prod": {"platform": "engine", "url": "http://127.0.0.1:9", "instance": "acme",
                 "token_env": "PROD_TOKEN"},
    },
}  # fmt: skip
ENV = {"PROD_TOKEN": PROD_TOKEN, "LOCAL_TOKEN": LOCAL_TOKEN, "UNRELATED_VAR": "kept"}


def project(tmp_path: Path, config: dict[str, Any] = CONFIG) -> Path:
    return write_project(
        tmp_path,
        {"a.yaml": [doc("plain", {"daily": "09:00"}),
                    doc("asks", {"daily": "09:00"}, pass_env=["PROD_TOKEN"])]},
        config,
    )  # fmt: skip


def child_environment(tmp_path: Path, name: str, **env: str) -> dict[str, str]:
    """The environment `command:env` saw in a `run --once NAME`, from the runs database."""
    done = schedctl(["run", "--once", name, "--executor", "command:env"], tmp_path, **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert PROD_TOKEN not in done.stdout + done.stderr and LOCAL_TOKEN not in done.stderr
    output = db_rows(tmp_path / ".schedctl" / "runs.db")[-1]["output"]
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def test_a_command_gets_no_target_token_unless_its_schedule_passes_it(tmp_path: Path) -> None:
    project(tmp_path)
    plain = child_environment(tmp_path, "plain", **ENV)
    assert "PROD_TOKEN" not in plain and "LOCAL_TOKEN" not in plain  # every target's, not one
    assert plain["UNRELATED_VAR"] == "kept" and plain["SCHEDCTL_SCHEDULE"] == "plain"
    asks = child_environment(tmp_path, "asks", **ENV)
    assert asks["PROD_TOKEN"] == PROD_TOKEN  # asked for by name
    assert "LOCAL_TOKEN" not in asks  # and only that one
    artifacts = tmp_path / ".schedctl" / "artifacts"
    kept = [p.read_text() for p in artifacts.rglob("*") if p.is_file()]
    assert sum(PROD_TOKEN in text for text in kept) == 1  # only the run that asked saw it


def test_the_serving_runner_withholds_the_tokens_too(
    tmp_path: Path, runner_procs: list[RunnerProcess]
) -> None:
    write_project(tmp_path, {"a.yaml": [doc("tick", {"every": "1s"})]}, CONFIG)
    runner = RunnerProcess(tmp_path, ["--executor", "command:env"], **ENV)
    runner_procs.append(runner)
    db = tmp_path / ".schedctl" / "runs.db"
    runner.wait_for(lambda: any(r["status"] == "ok" for r in db_rows(db)), what="a finished run")
    assert runner.terminate() == 0
    outputs = [r["output"] for r in db_rows(db) if r["status"] == "ok"]
    assert outputs and all("UNRELATED_VAR=kept" in o for o in outputs)
    assert not any(PROD_TOKEN in o or LOCAL_TOKEN in o for o in outputs)


def test_a_reloaded_config_withholds_the_token_variables_it_adds() -> None:
    executor = FakeExecutor()
    options = RunnerOptions(withheld_env=frozenset({"OLD_TOKEN"}))
    runner = Runner([item("a", {"every": "1h"})], options, executor=executor, inline=True)
    runner.start(exclusive=False, plan=False)
    try:
        runner.fire_now("a")
        runner.reload([item("a", {"every": "1h"})], frozenset({"NEW_TOKEN"}))
        runner.reload([item("a", {"every": "1h"})])  # a broken config names none: none freed
        runner.fire_now("a")
    finally:
        runner.shutdown()
    assert [set(c.withheld_env) for c in executor.calls] == [
        {"OLD_TOKEN"},
        {"OLD_TOKEN", "NEW_TOKEN"},
    ]


def test_the_http_executor_never_sends_a_target_token(tmp_path: Path) -> None:
    project(tmp_path)
    with serving() as server:
        hook = ["--executor", f"http:{server.url}/hook"]
        own = schedctl(["run", "--once", "plain", *hook], tmp_path,
                       **ENV, SCHEDCTL_HTTP_TOKEN="hook-key")  # fmt: skip
        assert own.returncode == 0, own.stdout + own.stderr
        sent = [r["headers"].get("Authorization") for r in server.requests]
        assert sent == ["Bearer hook-key"]  # its own key goes out
        # The webhook key is a target's token (the same value): refused, nothing sent.
        same = schedctl(["run", "--once", "plain", *hook], tmp_path,
                        **ENV, SCHEDCTL_HTTP_TOKEN=PROD_TOKEN)  # fmt: skip
        assert same.returncode == 1 and len(server.requests) == 1, same.stdout + same.stderr
        # ... unless the schedule passes that variable on.
        asked = schedctl(["run", "--once", "asks", *hook], tmp_path,
                         **ENV, SCHEDCTL_HTTP_TOKEN=PROD_TOKEN)  # fmt: skip
        assert asked.returncode == 0, asked.stdout + asked.stderr
        assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {PROD_TOKEN}"
        bodies = [json.dumps(r["body"]) for r in server.requests]
    assert not any(PROD_TOKEN in b or LOCAL_TOKEN in b for b in bodies)
    for proc in (own, same, asked):
        assert PROD_TOKEN not in proc.stdout + proc.stderr
    history = schedctl(["runs", "--local", "--format", "json"], tmp_path)
    refused = [r for r in json.loads(history.stdout) if r["status"] == "error"]
    assert len(refused) == 1 and PROD_TOKEN not in history.stdout
    assert "SCHEDCTL_HTTP_TOKEN holds the same token as PROD_TOKEN" in refused[0]["error"]
    assert "pass_env" in refused[0]["error"]


def test_the_openai_executor_never_sends_a_target_token(tmp_path: Path) -> None:
    # The config names the very variable the openai executor reads its key from.
    config = json.loads(json.dumps(CONFIG))
    config["targets"]["prod"]["token_env"] = "OPENAI_API_KEY"
    project(tmp_path, config)
    env = {"SCHEDCTL_OPENAI_MODEL": "tiny", "OPENAI_API_KEY": "test-key"}
    with serving() as server:
        refused = schedctl(["run", "--once", "plain", "--executor", f"openai:{server.url}"],
                           tmp_path, **env)  # fmt: skip
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert server.requests == []
    rows = db_rows(tmp_path / ".schedctl" / "runs.db")
    assert "OPENAI_API_KEY is a target's token_env: not sent to" in rows[-1]["error"]
    assert "test-key" not in rows[-1]["error"]
