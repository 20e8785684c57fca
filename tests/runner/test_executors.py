"""Each executor against a real command or a real local endpoint."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from reconciler.errors import UsageError
from reconciler.runner.executors import (
    CommandExecutor,
    HttpExecutor,
    OpenAIExecutor,
    PrintExecutor,
    RunContext,
    chat_completions_url,
    parse_executor,
)

from .conftest import T0, item
from .servers import Recorder, serving


def ctx(name: str = "digest", timeout: float = 10, **fields: object) -> RunContext:
    return RunContext(
        schedule=item(name, {"every": "1h"}, **fields).schedule,  # type: ignore[arg-type]
        run_id="run_1", conversation_id="conv_1", scheduled_for=T0, trigger="scheduler", timeout=timeout,
    )  # fmt: skip


@pytest.fixture
def server() -> Iterator[Recorder]:
    with serving() as s:
        yield s


def test_print() -> None:
    assert PrintExecutor().run(ctx()).output == "do digest"
    app = ctx(action={"app": {"id": "app_1", "input": {"company": "Stripe"}}})
    assert PrintExecutor().run(app).output == '{"app": "app_1", "input": {"company": "Stripe"}}'


def test_command_gets_prompt_on_stdin_and_ids_in_env() -> None:
    script = 'read p; echo "$p|$SCHEDCTL_SCHEDULE|$SCHEDCTL_RUN_ID|$SCHEDCTL_CONVERSATION_ID|$SCHEDCTL_SCHEDULED_FOR"'
    out = CommandExecutor(script).run(ctx())
    assert out.ok and out.output == "do digest|digest|run_1|conv_1|2026-03-02T09:00:00+00:00\n"


def test_command_exit_status_decides_and_stderr_is_kept() -> None:
    out = CommandExecutor("echo partial; echo 'it broke' >&2; exit 3").run(ctx())
    assert not out.ok and out.error == "exit status 3: it broke"
    assert out.output == "partial\n" and out.files == {"stderr.txt": "it broke\n"}


def test_command_timeout_kills_the_whole_group() -> None:
    started = time.monotonic()
    out = CommandExecutor("sleep 30 & sleep 30; echo never").run(ctx(timeout=0.5))
    assert not out.ok and out.error == "timed out after 0.5s"
    assert time.monotonic() - started < 5


def test_command_cancel_marks_interrupted() -> None:
    executor = CommandExecutor("sleep 30")
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(executor.run(ctx())))
    t.start()
    time.sleep(0.3)
    executor.cancel_all()
    t.join(10)
    assert result and result[0].interrupted  # type: ignore[attr-defined]


def test_http_posts_json_and_2xx_decides(server: Recorder) -> None:
    executor = HttpExecutor(server.url + "/hook")
    try:
        out = executor.run(ctx())
        assert out.ok and out.output == '{"received": "run_1"}'
        body = server.requests[0]["body"]
        assert body == {
            "schedule": "digest", "title": "digest", "prompt": "do digest", "run_id": "run_1",
            "conversation_id": "conv_1", "scheduled_for": "2026-03-02T09:00:00+00:00", "trigger": "scheduler",
        }  # fmt: skip
        app = executor.run(ctx(action={"app": {"id": "app_1", "input": {"k": "v"}}}))
        assert app.ok and server.requests[1]["body"]["app"] == {"id": "app_1", "input": {"k": "v"}}
        assert "prompt" not in server.requests[1]["body"]
        server.status = 500
        failed = executor.run(ctx())
        assert (
            not failed.ok
            and failed.error is not None
            and failed.error.startswith(f"POST {server.url}/hook: 500")
        )
    finally:
        executor.close()


def test_http_connection_refused_is_an_error() -> None:
    executor = HttpExecutor("http://127.0.0.1:9/hook")
    try:
        out = executor.run(ctx(timeout=2))
        assert not out.ok and out.error is not None and "ConnectError" in out.error
    finally:
        executor.close()


def test_openai_sends_earlier_turns_and_returns_new_ones(server: Recorder) -> None:
    executor = OpenAIExecutor(server.url, "tiny-model", "test-key")
    try:
        first = executor.run(ctx())
        assert first.ok and first.output == "answer 1 to do digest (model tiny-model, 1 messages)"
        assert first.turns == [("user", "do digest"), ("assistant", first.output)]
        second_ctx = RunContext(**{**ctx().__dict__, "turns": first.turns})
        second = executor.run(second_ctx)
        sent = server.requests[1]["body"]["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "user"]
        assert sent[1]["content"] == first.output and second.ok
        assert "response.json" in second.files and "request.json" in second.files
    finally:
        executor.close()


def test_openai_reports_the_servers_message(server: Recorder) -> None:
    executor = OpenAIExecutor(server.url + "/v1", "m", "wrong")
    try:
        out = executor.run(ctx())
        assert (
            out.error == f"POST {server.url}/v1/chat/completions: 401: Incorrect API key provided"
        )
    finally:
        executor.close()


def test_parse_executor() -> None:
    assert isinstance(parse_executor("print"), PrintExecutor)
    command = parse_executor('command:"echo hi"')
    assert isinstance(command, CommandExecutor) and command.command == "echo hi"
    assert isinstance(parse_executor("http:http://x/y"), HttpExecutor)
    assert parse_executor("http://x/y").url == "http://x/y"  # type: ignore[attr-defined]
    env = {"SCHEDCTL_OPENAI_MODEL": "m", "OPENAI_API_KEY": "k"}
    openai = parse_executor("openai:http://x:1", env)
    assert (
        isinstance(openai, OpenAIExecutor)
        and openai.api_key == "k"
        and openai.url == "http://x:1/v1/chat/completions"
    )
    assert parse_executor("openai:http://x", {**env, "SCHEDCTL_OPENAI_API_KEY": "s"}).api_key == "s"  # type: ignore[attr-defined]
    for bad, message in [("nope", "unknown --executor"), ("command:", "unknown"), ("http:ftp://x", "expected http"),
                         ("openai:http://x", "SCHEDCTL_OPENAI_MODEL")]:  # fmt: skip
        with pytest.raises(UsageError, match=message):
            parse_executor(bad, {})


def test_chat_completions_url() -> None:
    assert chat_completions_url("http://h/") == "http://h/v1/chat/completions"
    assert chat_completions_url("http://h/v1") == "http://h/v1/chat/completions"
    assert chat_completions_url("http://h/api/chat/completions") == "http://h/api/chat/completions"
