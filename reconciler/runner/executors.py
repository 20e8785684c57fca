"""What a run does: print the prompt, run a command, POST to a URL, or ask a chat model.

`--executor print` (default) | `command:"CMD"` | `http:URL` | `openai:URL`. Every executor
returns an Outcome; the runner stores its output (column and artifact files), never the executor.

The targets' tokens stay with schedctl: the variables the config names as `token_env` are
withheld (RunContext.withheld_env) from a command's environment, and an http or openai
executor refuses to send a key that is one of them, unless the schedule lists the variable in
`pass_env`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, Protocol

from reconciler.errors import UsageError

if TYPE_CHECKING:
    import httpx

    from reconciler.model import Schedule
    from reconciler.runner.store import Role, TriggerKind

# Artifacts keep the whole output up to this size; beyond it the tail is cut and noted.
ARTIFACT_LIMIT = 32 * 1024 * 1024
ERROR_EXCERPT = 500
KILL_GRACE_SECONDS = 2.0
MODEL_ENV = "SCHEDCTL_OPENAI_MODEL"
KEY_ENVS = ("SCHEDCTL_OPENAI_API_KEY", "OPENAI_API_KEY")
HTTP_TOKEN_ENV = "SCHEDCTL_HTTP_TOKEN"


@dataclass(frozen=True)
class RunContext:
    schedule: Schedule
    run_id: str
    conversation_id: str | None
    scheduled_for: datetime
    trigger: TriggerKind
    timeout: float  # seconds
    turns: list[tuple[Role, str]] = field(default_factory=list)  # earlier turns of the conversation
    # The targets' token variables: not for the executor, unless the schedule's pass_env asks.
    withheld_env: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return self.schedule.name

    def withheld(self) -> frozenset[str]:
        """The withheld variables this schedule does not ask for."""
        return self.withheld_env.difference(self.schedule.pass_env or ())

    def token_variable(self, value: str, env: Mapping[str, str] | None = None) -> str | None:
        """The withheld variable that holds `value`, if any: a key that is a target's token."""
        env = os.environ if env is None else env
        return next((name for name in sorted(self.withheld()) if env.get(name) == value), None)

    def message(self) -> str:
        """The prompt, or for an app run its id and inputs as JSON."""
        action = self.schedule.action
        if action.prompt is not None:
            return action.prompt
        assert action.app is not None
        return json.dumps({"app": action.app.id, "input": action.app.input}, sort_keys=True)


# Every interrupted run says "the runner stopped", however it stopped: one phrase to look for.
STOPPED_AT_SHUTDOWN = "the runner stopped at shutdown during this run"
NOT_STARTED = "not started: the runner stopped before it began"


@dataclass
class Outcome:
    ok: bool
    output: str = ""
    error: str | None = None
    turns: list[tuple[Role, str]] = field(default_factory=list)  # to append to the conversation
    files: dict[str, str] = field(default_factory=dict)  # extra artifacts: name -> text
    interrupted: bool = False  # stopped by shutdown, not by its own failure


class Executor(Protocol):
    name: str
    wants_turns: bool  # load the conversation's earlier turns into RunContext.turns

    def run(self, ctx: RunContext) -> Outcome: ...

    def cancel_all(self) -> None:
        """Stop whatever is still running (the shutdown grace period is over)."""
        ...

    def close(self) -> None:
        """Release connections; called once, after the last run."""
        ...


def excerpt(text: str, limit: int = ERROR_EXCERPT) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


class PrintExecutor:
    """Runs nothing: the output is what would be sent."""

    name = "print"
    wants_turns = False

    def run(self, ctx: RunContext) -> Outcome:
        return Outcome(ok=True, output=ctx.message())

    def cancel_all(self) -> None:
        pass

    def close(self) -> None:
        pass


def _read_capped(stream: IO[bytes]) -> str:
    stream.seek(0)
    data = stream.read(ARTIFACT_LIMIT + 1)
    text = data[:ARTIFACT_LIMIT].decode("utf-8", errors="replace")
    return text + ("\n[output cut at 32 MiB]\n" if len(data) > ARTIFACT_LIMIT else "")


class CommandExecutor:
    """A shell command: the prompt on stdin, ids in the environment, the exit status decides."""

    name = "command"
    wants_turns = False

    def __init__(self, command: str) -> None:
        self.command = command
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._cancelled: set[str] = set()

    def environment(self, ctx: RunContext) -> dict[str, str]:
        withheld = ctx.withheld()
        env = {name: value for name, value in os.environ.items() if name not in withheld}
        env.update(
            SCHEDCTL_SCHEDULE=ctx.key,
            SCHEDCTL_RUN_ID=ctx.run_id,
            SCHEDCTL_CONVERSATION_ID=ctx.conversation_id or "",
            SCHEDCTL_SCHEDULED_FOR=ctx.scheduled_for.isoformat(),
            SCHEDCTL_TRIGGER=ctx.trigger,
            SCHEDCTL_ACTION="prompt" if ctx.schedule.action.prompt is not None else "app",
        )
        return env

    def run(self, ctx: RunContext) -> Outcome:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            # Own process group: a timeout or shutdown kills the command's children too.
            proc = subprocess.Popen(
                self.command, shell=True, stdin=subprocess.PIPE, stdout=out, stderr=err,
                env=self.environment(ctx), start_new_session=True,
            )  # fmt: skip
            with self._lock:
                self._procs[ctx.run_id] = proc
            timed_out = False
            try:
                proc.communicate(ctx.message().encode(), timeout=ctx.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
            finally:
                with self._lock:
                    self._procs.pop(ctx.run_id, None)
                    cancelled = ctx.run_id in self._cancelled
                    self._cancelled.discard(ctx.run_id)
            stdout, stderr = _read_capped(out), _read_capped(err)
        files = {"stderr.txt": stderr} if stderr else {}
        code = proc.returncode
        if cancelled:
            return Outcome(False, stdout, STOPPED_AT_SHUTDOWN, files=files, interrupted=True)
        if timed_out:
            return Outcome(False, stdout, f"timed out after {ctx.timeout:g}s", files=files)
        if code == 0:
            return Outcome(True, stdout, files=files)
        why = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        return Outcome(
            False, stdout, f"{why}: {excerpt(stderr)}" if stderr.strip() else why, files=files
        )

    def cancel_all(self) -> None:
        with self._lock:
            procs = dict(self._procs)
            self._cancelled.update(procs)
        for proc in procs.values():
            _kill_group(proc)

    def close(self) -> None:
        pass


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, SIGKILL what is left after a short grace."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_SECONDS), (signal.SIGKILL, None)):
        try:
            if hasattr(os, "killpg"):
                os.killpg(proc.pid, sig)
            else:  # pragma: no cover - Windows
                proc.kill()
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


class _HttpBase:
    wants_turns = False

    def __init__(self, url: str) -> None:
        # Imported here: httpx (with the click/rich/pygments its CLI pulls in) is 8 MB of a
        # runner's memory, and only the HTTP executors use it.
        import httpx

        self.url = url
        # One pooled client for every run; httpx clients are thread-safe.
        self._client = httpx.Client(follow_redirects=False)
        self._cancelled = False

    def cancel_all(self) -> None:
        self._cancelled = True
        self._client.close()  # in-flight requests fail fast

    def close(self) -> None:
        self._client.close()

    def _post(
        self,
        ctx: RunContext,
        payload: dict[str, Any],
        key: tuple[str, str] | None,
        files: dict[str, str],
    ) -> httpx.Response | Outcome:
        """The answer, or the failed Outcome when none came. `key`: (where it is from, the
        bearer token), refused when it is a target's token the schedule did not pass on."""
        import httpx

        headers = {}
        if key is not None:
            source, token = key
            variable = ctx.token_variable(token)
            if variable is not None:
                what = (
                    f"{source} is a target's token_env"
                    if variable == source
                    else f"{source} holds the same token as {variable}, a target's token_env"
                )
                return Outcome(
                    False,
                    error=f"{what}: not sent to {self.url} (list {variable} in the schedule's "
                    "pass_env to allow it)",
                    files=files,
                )
            headers["Authorization"] = f"Bearer {token}"
        try:
            return self._client.post(self.url, json=payload, headers=headers, timeout=ctx.timeout)
        except httpx.TimeoutException:
            return Outcome(
                False, error=f"POST {self.url}: timed out after {ctx.timeout:g}s", files=files
            )
        except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client was closed
            if self._cancelled:
                return Outcome(False, error=STOPPED_AT_SHUTDOWN, files=files, interrupted=True)
            return Outcome(
                False, error=f"POST {self.url}: {type(exc).__name__}: {exc}", files=files
            )


class HttpExecutor(_HttpBase):
    """POST the run as JSON; any 2xx answer is a success and its body the output."""

    name = "http"

    def payload(self, ctx: RunContext) -> dict[str, Any]:
        action = ctx.schedule.action
        body: dict[str, Any] = {"schedule": ctx.key, "title": ctx.schedule.display_title}
        if action.prompt is not None:
            body["prompt"] = action.prompt
        else:
            assert action.app is not None
            body["app"] = {"id": action.app.id, "input": action.app.input}
        body.update(
            run_id=ctx.run_id,
            conversation_id=ctx.conversation_id,
            scheduled_for=ctx.scheduled_for.isoformat(),
            trigger=ctx.trigger,
        )
        return body

    def run(self, ctx: RunContext) -> Outcome:
        payload = self.payload(ctx)
        token = os.environ.get(HTTP_TOKEN_ENV)
        key = (HTTP_TOKEN_ENV, token) if token else None
        files = {"request.json": json.dumps(payload, indent=2)}
        answer = self._post(ctx, payload, key, files)
        if isinstance(answer, Outcome):
            return answer
        if answer.is_success:
            return Outcome(True, answer.text, files=files)
        return Outcome(
            False,
            answer.text,
            f"POST {self.url}: {answer.status_code}: {excerpt(answer.text)}",
            files=files,
        )


def chat_completions_url(url: str) -> str:
    """Accept the server root, its /v1, or the full endpoint."""
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    return url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions")


class OpenAIExecutor(_HttpBase):
    """An OpenAI-compatible chat endpoint. With history kept, earlier turns are sent too."""

    name = "openai"
    wants_turns = True

    def __init__(
        self, url: str, model: str, api_key: str | None, key_source: str = "the API key"
    ) -> None:
        super().__init__(chat_completions_url(url))
        self.model = model
        self.api_key = api_key
        self.key_source = key_source

    def run(self, ctx: RunContext) -> Outcome:
        prompt = ctx.message()
        messages = [{"role": role, "content": content} for role, content in ctx.turns]
        messages.append({"role": "user", "content": prompt})
        payload = {"model": self.model, "messages": messages}
        key = (self.key_source, self.api_key) if self.api_key else None
        files = {"request.json": json.dumps(payload, indent=2)}
        answer = self._post(ctx, payload, key, files)
        if isinstance(answer, Outcome):
            return answer
        files["response.json"] = answer.text
        if not answer.is_success:
            return Outcome(
                False,
                "",
                f"POST {self.url}: {answer.status_code}: {_api_message(answer)}",
                files=files,
            )
        try:
            content = answer.json()["choices"][0]["message"]["content"]
            if not isinstance(content, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return Outcome(
                False,
                "",
                f"POST {self.url}: unexpected answer ({exc}): {excerpt(answer.text)}",
                files=files,
            )
        return Outcome(True, content, turns=[("user", prompt), ("assistant", content)], files=files)


def _api_message(response: httpx.Response) -> str:
    """The server's own message when it sent the usual {"error": {"message": ...}}."""
    try:
        error = response.json().get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    except (ValueError, AttributeError):
        pass
    return excerpt(response.text)


def parse_executor(spec: str, env: dict[str, str] | None = None) -> Executor:
    """`print`, `command:CMD`, `http:URL` or `openai:URL` -> an Executor (UsageError otherwise)."""
    env = dict(os.environ) if env is None else env
    kind, sep, rest = spec.partition(":")
    rest = rest.strip()
    if len(rest) >= 2 and rest[0] == rest[-1] and rest[0] in "\"'":
        rest = rest[1:-1]  # command:"..." arrives quoted when the shell kept the quotes
    if spec == "print":
        return PrintExecutor()
    if kind == "command" and sep and rest:
        return CommandExecutor(rest)
    if kind in ("http", "https") and rest.startswith("//"):
        return HttpExecutor(spec)  # a bare URL: http://host/path
    if kind in ("http", "openai") and sep:
        if not rest.startswith(("http://", "https://")):
            raise UsageError(f"--executor {spec}: expected {kind}:http://host[:port]/path")
        if kind == "http":
            return HttpExecutor(rest)
        model = env.get(MODEL_ENV)
        if not model:
            raise UsageError(f"--executor openai: set {MODEL_ENV} to the model name")
        source = next((k for k in KEY_ENVS if env.get(k)), None)
        if source is None:
            return OpenAIExecutor(rest, model, None)
        return OpenAIExecutor(rest, model, env[source], source)
    raise UsageError(
        f'unknown --executor {spec!r} (expected print, command:"CMD", http:URL or openai:URL)'
    )
