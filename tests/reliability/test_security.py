"""Security: the token stays secret, goes to no other host, TLS is verified, globs stay inside
the repository, and the sandbox listens on loopback (DESIGN §1, §2, §4, §6).

Already covered elsewhere, and not repeated: a wrong token's 401 is a clear error without the
token (tests/reconcile/test_reconcile_cli.py), redirects and redaction against a mock transport
(tests/reconcile/test_reconcile_http.py), globs with `..`, absolute paths and a symlinked
directory matched by `*` (tests/loader/test_foundation.py). Here the same promises are checked end to
end: real processes at every verbosity, real servers that echo or redirect, real TLS.
"""

from __future__ import annotations

import base64
import inspect
import json
import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
import yaml

from reconciler.errors import ApiError
from reconciler.http import ApiClient, Redactor, RetryPolicy
from reconciler.loader import load_project
from reconciler.sandbox import RunningSandbox, SandboxOptions, running_sandbox, serve
from tests.conftest import run_cli
from tests.reconcile.conftest import Repo, prompt_doc, tasks_path
from tests.reliability.conftest import live
from tests.reliability.servers import Answer, Certificate, Seen, Server, self_signed, serving

# Random-looking, so that any 8 characters of it showing up anywhere is a leak, not chance.
TOKEN = "Zq81x7Kp3Vw9Lm2Tr6Yb4Nc0Hd5Gj8Fs"
TOKEN_ENV = "SCHEDCTL_REL_TOKEN"


def leaks(text: str) -> list[str]:
    """Every 8-character piece of the token found in `text` (a truncated echo leaks too)."""
    return [TOKEN[i : i + 8] for i in range(len(TOKEN) - 7) if TOKEN[i : i + 8] in text]


def tokened(repo: Repo) -> Repo:
    """The repo's target reads its token from TOKEN_ENV."""
    config = yaml.safe_load(repo.config.read_text())
    config["targets"]["t"]["token_env"] = TOKEN_ENV
    repo.config.write_text(yaml.safe_dump(config, sort_keys=False))
    return repo


def cli(repo: Repo, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess[str]:
    return run_cli(list(args), cwd=repo.root, env={TOKEN_ENV: token}, input="")


# ---------------------------------------------------------------------------------------------
# The token in output, saved plans and written files


@pytest.mark.parametrize("platform", ["engine", "aitroop"])
def test_the_token_shows_in_no_output_at_any_verbosity_nor_in_any_file_written(
    tmp_path: Path, sandbox_factory: Any, platform: str
) -> None:
    sandbox = sandbox_factory(platform, token=TOKEN)
    repo = tokened(Repo(tmp_path, sandbox.url, platform))
    repo.write("a", prompt_doc("alpha"), prompt_doc("beta"))
    runs = []
    for n, v in enumerate(([], ["-v"], ["-vv"])):
        runs.append(cli(repo, *v, "plan", "--out", f"plan{n}.json", "--format", "markdown"))
        runs.append(cli(repo, *v, "plan", "--format", "json"))
    runs.append(cli(repo, "-vv", "apply", "plan2.json", "--auto-approve"))
    repo.write("a", prompt_doc("alpha", "changed"), prompt_doc("beta"))
    runs.append(cli(repo, "-v", "apply", "--auto-approve"))
    runs.append(cli(repo, "-vv", "status"))
    runs.append(cli(repo, "-vv", "trigger", "alpha", "--target", "t"))
    runs.append(cli(repo, "-vv", "runs", "alpha", "--target", "t"))
    runs.append(cli(repo, "-vv", "import", "--target", "t", "--out", "imported"))
    runs.append(cli(repo, "-vv", "validate"))
    for proc in runs:
        assert proc.returncode == 0, [*proc.args[-6:], proc.stdout + proc.stderr]
        assert not leaks(proc.stdout + proc.stderr), proc.args
    # The verbose runs did log their requests: the check above looked at real request logs.
    assert f"GET {sandbox.url}{tasks_path(platform)} -> 200" in runs[2].stderr
    assert "-> 201" in runs[6].stderr and "-> 201" not in runs[0].stderr
    written = [*tmp_path.glob("plan*.json"), *(tmp_path / "imported").glob("*.yaml")]
    assert len(written) == 5
    for path in written:
        assert not leaks(path.read_text()), path


def test_the_token_of_an_embedded_sandbox_target_stays_out_of_verbose_output(
    tmp_path: Path,
) -> None:
    config = {
        "owner": "team-a",
        "targets": {"local": {"platform": "engine", "sandbox": "sb.db", "token_env": TOKEN_ENV}},
        "defaults": {"targets": ["local"]},
    }
    (tmp_path / "schedctl.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "a.yaml").write_text(yaml.safe_dump(prompt_doc("alpha")))
    applied = run_cli(
        ["-vv", "apply", "--auto-approve"], cwd=tmp_path, env={TOKEN_ENV: TOKEN}, input=""
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "POST http://127.0.0.1:" in applied.stderr  # the embedded sandbox: on loopback
    assert not leaks(applied.stdout + applied.stderr)


# ---------------------------------------------------------------------------------------------
# The token in error messages: a server that echoes the request's headers back


def echo_body(kind: str, seen: Seen) -> tuple[int, bytes]:
    auth = seen.headers.get("authorization", "")
    headers = json.dumps(seen.headers)
    pad = "x" * 280
    bodies: dict[str, tuple[int, str]] = {
        "json-message": (
            500,
            json.dumps({"message": f"internal error; request headers: {headers}"}),
        ),
        "json-detail-object": (500, json.dumps({"detail": {"request_headers": seen.headers}})),
        "text": (500, f"Internal Server Error\n\nAuthorization: {auth}\n"),
        # the token straddles the point where long messages are cut (300 characters)
        "text-long": (500, f"{pad[:288]} {auth} and more"),
        "json-long": (500, json.dumps({"detail": {"pad": pad[:262], "authorization": auth}})),
        "not-json-200": (200, f"{pad[:172]} {auth} is fine"),  # cut at 200
        "retried-502": (502, f"bad gateway for {auth}"),
        "unauthorized": (401, json.dumps({"error": f"token {auth} is not valid here"})),
    }
    status, text = bodies[kind]
    return status, text.encode()


@contextmanager
def echoing(kind: str) -> Iterator[Server]:
    def respond(seen: Seen) -> Answer:
        status, body = echo_body(kind, seen)
        return Answer(status, body, {"Content-Type": "text/plain", "Retry-After": "0"})

    with serving(respond) as server:
        yield server


ECHOES = ["json-message", "json-detail-object", "text", "text-long", "json-long",
          "not-json-200", "retried-502", "unauthorized"]  # fmt: skip


@pytest.mark.parametrize("kind", ECHOES)
def test_errors_that_echo_the_authorization_header_are_redacted(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    retry = RetryPolicy(attempts=2, backoff=0)
    with (
        echoing(kind) as server,
        ApiClient(server.url, TOKEN, retry=retry) as api,
        caplog.at_level(logging.DEBUG),
        pytest.raises(ApiError) as info,
    ):
        api.request("GET", "/api/instances/acme/scheduled-tasks")
    assert server.seen and server.seen[0].headers["authorization"] == f"Bearer {TOKEN}"
    error = info.value
    assert "Bearer *" in str(error), str(error)  # the echo is there, redacted
    for text in (str(error), error.message, error.url, caplog.text):
        assert not leaks(text), text


def test_an_echoed_token_is_redacted_in_the_cli_error_at_every_verbosity(tmp_path: Path) -> None:
    with echoing("text-long") as server:
        repo = tokened(Repo(tmp_path, server.url, "engine"))
        repo.write("a", prompt_doc("alpha"))
        for v in ([], ["-v"], ["-vv"]):
            proc = cli(repo, *v, "plan")
            out = proc.stdout + proc.stderr
            assert proc.returncode == 1 and ": 500: xxx" in out, out
            assert "***" in out and "Traceback" not in out
            assert not leaks(out)


def echoing_listing(place: str) -> Callable[[Seen], Answer]:
    """An engine listing that echoes the token into a redirect, a cursor or an item."""

    def respond(seen: Seen) -> Answer:
        token = seen.headers.get("authorization", "").removeprefix("Bearer ")
        first = "cursor=" not in seen.path and "echo=" not in seen.path
        if place == "redirect":
            if first:
                return Answer(307, b"", {"Location": f"{seen.path}?echo={token}"})
            return Answer(200, b"[]")
        if first:
            page: dict[str, Any] = {"items": [], "next_cursor": token}
        elif place == "cursor":
            page = {"items": [], "next_cursor": None}
        elif place == "item-without-id":
            page = {"items": [{"name": "x", "seen": f"Bearer {token}"}], "next_cursor": None}
        else:  # the pages loop: the same cursor again
            page = {"items": [], "next_cursor": token}
        return Answer(200, json.dumps(page).encode())

    return respond


@pytest.mark.parametrize("place", ["redirect", "cursor", "item-without-id", "cursor-loop"])
def test_a_token_echoed_into_urls_or_listings_stays_out_of_output_and_saved_plans(
    tmp_path: Path, place: str
) -> None:
    with serving(echoing_listing(place)) as server:
        repo = tokened(Repo(tmp_path, server.url, "engine"))
        repo.write("a", prompt_doc("alpha"))
        proc = cli(repo, "-vv", "plan", "--out", "plan.json")
    out = proc.stdout + proc.stderr
    assert proc.returncode == (0 if place in ("redirect", "cursor") else 1), out
    assert len(server.seen) >= 2 and "Traceback" not in out
    # The echo was logged or reported, masked. A cursor is masked as the answer arrives, so the
    # next request carries the mask (percent-encoded in its query), never the token.
    masked = "cursor=%2A%2A%2A" if place == "cursor" else "***"
    assert f"GET {server.url}" in out and masked in out
    if place != "redirect":  # a redirect is followed as the server wrote it, within the origin
        assert not any(leaks(seen.path) for seen in server.seen)
    assert not leaks(out), out
    assert not leaks((tmp_path / "plan.json").read_text())


# ---------------------------------------------------------------------------------------------
# Redirects to another host


@pytest.mark.parametrize("other_host", ["localhost", "127.0.0.1"])
@pytest.mark.parametrize("redirected", ["GET", "POST"])
def test_a_redirect_to_another_origin_does_not_carry_the_token(
    tmp_path: Path, other_host: str, redirected: str
) -> None:
    with serving(lambda seen: Answer(200, b"[]"), url_host=other_host) as elsewhere:

        def respond(seen: Seen) -> Answer:
            if seen.method == redirected:
                return Answer(307, b"", {"Location": elsewhere.url + seen.path})
            return Answer(200, b"[]")

        # 127.0.0.1 -> localhost (another host name) or 127.0.0.1 on another port
        with serving(respond, host="127.0.0.1") as first:
            assert first.url != elsewhere.url
            repo = tokened(Repo(tmp_path, first.url, "engine"))
            repo.write("a", prompt_doc("alpha"))
            proc = cli(repo, "-vv", "apply", "--auto-approve")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "another origin, not followed" in proc.stdout + proc.stderr
    assert not leaks(proc.stdout + proc.stderr)
    assert [s.headers.get("authorization") for s in first.seen][:1] == [f"Bearer {TOKEN}"]
    assert not any("authorization" in s.headers for s in elsewhere.seen)
    assert elsewhere.seen == []  # not followed at all


# ---------------------------------------------------------------------------------------------
# TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https_engine(certificate: Certificate) -> Iterator[Server]:
    """An engine listing over HTTPS with a certificate no CA signed."""
    with serving(lambda seen: Answer(200, b"[]"), tls=certificate.server_context()) as server:
        yield server


def test_tls_is_verified_by_default_and_nothing_reaches_an_unverified_server(
    tmp_path: Path, https_engine: Server
) -> None:
    assert https_engine.url.startswith("https://127.0.0.1:")
    repo = tokened(Repo(tmp_path, https_engine.url, "engine"))
    repo.write("a", prompt_doc("alpha"))
    proc = cli(repo, "plan")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "CERTIFICATE_VERIFY_FAILED" in out and "Traceback" not in out
    assert "verification is OFF" not in out
    assert https_engine.seen == []  # the handshake failed: no request, no token, went out


def test_verify_tls_false_on_a_target_works_with_a_visible_warning(
    tmp_path: Path, https_engine: Server
) -> None:
    repo = tokened(Repo(tmp_path, https_engine.url, "engine"))
    config = yaml.safe_load(repo.config.read_text())
    config["targets"]["t"]["verify_tls"] = False
    repo.config.write_text(yaml.safe_dump(config, sort_keys=False))
    repo.write("a", prompt_doc("alpha"))
    proc = cli(repo, "plan", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["summary"]["create"] == 1  # stdout stays clean JSON
    warning = "warning: target 't': TLS certificate verification is OFF (verify_tls: false)"
    assert warning in proc.stderr
    assert [s.headers["authorization"] for s in https_engine.seen] == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize(
    "where",
    [{"verify_tls": False}, {"defaults": {"verify_tls": False}}],
    ids=["top-level", "defaults"],
)
def test_tls_verification_cannot_be_turned_off_for_all_targets(
    tmp_path: Path, where: dict[str, Any]
) -> None:
    repo = Repo(tmp_path, "https://engine.example.com", "engine")
    config = yaml.safe_load(repo.config.read_text())
    for key, value in where.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    repo.config.write_text(yaml.safe_dump(config, sort_keys=False))
    repo.write("a", prompt_doc("alpha"))
    proc = run_cli(["validate"], cwd=tmp_path)
    assert proc.returncode == 1 and "unknown key" in proc.stdout, proc.stdout + proc.stderr
    assert "verify_tls" in proc.stdout
    for flag in ("--insecure", "--no-verify", "--no-verify-tls"):  # nor from the command line
        assert run_cli([flag, "plan"], cwd=tmp_path).returncode != 0


# ---------------------------------------------------------------------------------------------
# Schedule globs stay inside the repository


VALID = "name: {name}\nschedule: {{every: 1h}}\naction: {{prompt: hi}}\n"


def outside_and_repo(tmp_path: Path, globs: list[str]) -> tuple[Path, Path]:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(VALID.format(name="from-outside"))
    repo = tmp_path / "repo"
    (repo / "schedules" / "team").mkdir(parents=True)
    (repo / "schedules" / "team" / "inside.yaml").write_text(VALID.format(name="inside"))
    (repo / "schedctl.yaml").write_text(yaml.safe_dump({"schedules": globs}))
    return outside, repo


def test_double_star_globs_do_not_follow_symlinks_out_of_the_repository(tmp_path: Path) -> None:
    outside, repo = outside_and_repo(tmp_path, ["schedules/**/*.yaml"])
    (repo / "schedules" / "linked-dir").symlink_to(outside, target_is_directory=True)
    (repo / "schedules" / "team" / "linked.yaml").symlink_to(outside / "secret.yaml")
    project = load_project([], str(repo / "schedctl.yaml"))
    assert [s.key for s in project.schedules] == ["inside"]
    problems = [d.message for d in project.diagnostics]
    # The symlinked file is matched and refused; the linked directory is either not entered by
    # `**` (Python's pathlib does not recurse into symlinked directories) or refused the same way.
    assert any("linked.yaml resolves outside the repository: not read" in p for p in problems)
    assert all("resolves outside the repository" in p for p in problems), problems


def test_explicit_paths_outside_the_repository_are_the_users_choice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Decision: only the config's `schedules` globs are confined to the repository, because
    the repository's content (a pull request) chooses what they match. PATHS given on the command
    line are the user's own choice and are read as given, links included."""
    outside, repo = outside_and_repo(tmp_path, ["schedules/**/*.yaml"])
    monkeypatch.chdir(repo)
    project = load_project([str(outside / "secret.yaml")])
    assert [s.key for s in project.schedules] == ["from-outside"] and not project.errors
    (repo / "schedules" / "team" / "linked.yaml").symlink_to(outside / "secret.yaml")
    project = load_project(["schedules"])
    assert sorted(s.key for s in project.schedules) == ["from-outside", "inside"]
    proc = run_cli(["validate", str(outside / "secret.yaml")], cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------------------
# The sandbox listens on loopback


def test_schedctl_sandbox_prints_a_loopback_url_first(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "sandbox", "--platform", "engine"],
        cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(60)
        assert first, "the sandbox printed nothing within 60 s"
        url = first[0].strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        assert httpx.get(url + "/openapi.json", timeout=30).status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "warning" not in err


def test_the_in_process_sandbox_defaults_to_loopback() -> None:
    for function in (running_sandbox, serve):
        assert inspect.signature(function).parameters["host"].default == "127.0.0.1"
    with running_sandbox(SandboxOptions(platform="aitroop")) as sandbox:
        assert isinstance(sandbox, RunningSandbox)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox.url), sandbox.url


# ---------------------------------------------------------------------------------------------
# Every form of the token: raw, percent-encoded, base64, Basic auth


# Every character percent-encoding or base64 treats specially, so that each form differs.
FORMS_TOKEN = "Zq8/1x7+Kp3=Vw9 Lm2&Tr6?Yb4%Nc0~Hd5:Gj8@Fs!"


def token_forms(token: str) -> dict[str, str]:
    """The token as a server may echo it: raw, percent-encoded three ways, base64 both
    alphabets with and without padding, and the base64 of Basic auth's `user:token`."""
    raw = token.encode()
    forms = {
        "raw": token,
        "quote": quote(token),
        "quote_plus": quote_plus(token),
        "quote_safe_none": quote(token, safe=""),
        "b64": base64.b64encode(raw).decode(),
        "urlsafe": base64.urlsafe_b64encode(raw).decode(),
    }
    forms["b64_nopad"] = forms["b64"].rstrip("=")
    forms["urlsafe_nopad"] = forms["urlsafe"].rstrip("=")
    for user in ("bob", "x"):  # the token at two offsets within base64's 3-byte groups
        forms[f"basic_{user}"] = base64.b64encode(f"{user}:".encode() + raw).decode()
    return forms


def test_the_forms_under_test_all_differ() -> None:
    forms = token_forms(FORMS_TOKEN)
    assert len(set(forms.values())) == len(forms), forms


def test_one_redactor_masks_every_form_wherever_it_sits() -> None:
    redactor = Redactor([FORMS_TOKEN])
    for name, form in token_forms(FORMS_TOKEN).items():
        for text in (form, f"x{form}y", f"a {form} b {form}", f"?cursor={form}&n=1"):
            shown = redactor(text)
            assert form not in shown and "***" in shown, (name, shown)
            assert redactor.scrub(text.encode()) == shown.encode()
    assert redactor("nothing secret here") == "nothing secret here"
    assert redactor.scrub(b"nothing secret here") is None
    assert not Redactor([None]) and Redactor([None])("x") == "x"


def leaks_of(text: str, token: str) -> list[str]:
    return [token[i : i + 8] for i in range(len(token) - 7) if token[i : i + 8] in text]


def _echo(token: str) -> str:
    return " ".join(f"{name}={form}" for name, form in token_forms(token).items())


ECHO_TASK_PATH = "/api/instances/acme/scheduled-tasks"


def form_echoing_engine(mode: str) -> Callable[[Seen], Answer]:
    """An engine platform that echoes the token it was sent, in every form, somewhere:

    fields      in the task's name, description, prompt, its runs, the run-now answer
    links       in next-page links, in the body and in Link headers
    loop        in a Link header that comes back again (the listing loops)
    error-json  in a 500's JSON message; error-text: in a 500's plain text
    post-422    in a create's 422 detail; post-302: in the Location of a redirected create
    """

    def respond(seen: Seen) -> Answer:
        token = seen.headers.get("authorization", "").removeprefix("Bearer ")
        echo = _echo(token)
        forms = list(token_forms(token).values())
        path, _, query = seen.path.partition("?")
        task = {
            "id": "st_1",
            "name": f"Alpha {echo}",
            "description": f"{echo}\n\n[schedctl:team-a/alpha]",
            "prompt": echo,
            "schedule": {"type": "cron", "expression": "0 9 * * *", "timezone": "Europe/Rome"},
            "lastStatus": "error",
            "lastError": echo,
        }
        run = {"runId": "run_1", "taskId": "st_1", "triggerType": "manual", "status": "error",
               "startedAt": "2026-01-01T09:00:00Z", "durationMs": 5, "error": echo, "output": echo}  # fmt: skip
        if mode == "fields":
            if path.endswith("/runs"):
                return Answer(200, json.dumps([run]).encode())
            if path.endswith("/run"):
                return Answer(200, json.dumps(run).encode())
            if seen.method == "PATCH":
                return Answer(200, json.dumps(task).encode())
            return Answer(200, json.dumps([task]).encode())
        if mode in ("links", "loop"):
            page = int(dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("page", 0))
            if mode == "loop":
                link = f'<{ECHO_TASK_PATH}?page=1&echo={forms[0]}>; rel="next"'
                return Answer(200, b"[]", {"Link": link})
            if page >= len(forms):
                return Answer(200, b"[]")
            nxt = f"{ECHO_TASK_PATH}?page={page + 1}&echo={forms[page]}"
            if page % 2:  # a Link header, followed as written
                return Answer(200, b"[]", {"Link": f'<{nxt}>; rel="next"'})
            return Answer(200, json.dumps({"items": [], "next": nxt}).encode())
        if mode == "error-json":
            return Answer(500, json.dumps({"message": f"internal error: {echo}"}).encode())
        if mode == "error-text":
            return Answer(500, f"Internal error\n{echo}\n".encode(), {"Content-Type": "text/plain"})
        if seen.method == "GET":
            return Answer(200, b"[]")
        if mode == "post-422":
            return Answer(422, json.dumps({"detail": [{"msg": echo}]}).encode())
        return Answer(302, b"", {"Location": f"{ECHO_TASK_PATH}?echo={forms[0]}&all={echo}"})

    return respond


ECHO_COMMANDS: dict[str, list[list[str]]] = {
    "fields": [["plan"], ["plan", "--format", "markdown"],
               ["plan", "--format", "json", "--out", "plan.json"], ["status"],
               ["runs", "alpha", "--target", "t"], ["trigger", "alpha", "--target", "t"],
               ["import", "--target", "t", "--out", "imported"], ["apply", "--auto-approve"]],
    "links": [["plan", "--out", "plan.json"]],
    "loop": [["plan", "--out", "plan.json"]],
    "error-json": [["plan", "--out", "plan.json"], ["status"]],
    "error-text": [["plan", "--out", "plan.json"]],
    "post-422": [["apply", "--auto-approve"]],
    "post-302": [["apply", "--auto-approve"]],
}  # fmt: skip


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]], ids=["quiet", "-v", "-vv"])
@pytest.mark.parametrize("mode", list(ECHO_COMMANDS))
def test_no_form_of_an_echoed_token_reaches_any_output_log_or_file(
    tmp_path: Path, mode: str, verbosity: list[str]
) -> None:
    forms = token_forms(FORMS_TOKEN)
    with serving(form_echoing_engine(mode)) as server:
        repo = tokened(Repo(tmp_path, server.url, "engine"))
        repo.write("a", prompt_doc("alpha"))
        procs = [cli(repo, *verbosity, *args, token=FORMS_TOKEN) for args in ECHO_COMMANDS[mode]]
    outputs = [p.stdout + p.stderr for p in procs]
    written = [*tmp_path.glob("plan.json"), *tmp_path.glob("imported/*.yaml")]
    texts = outputs + [path.read_text(encoding="utf-8") for path in written]
    for text in texts:
        for name, form in forms.items():
            assert form not in text, (mode, name, text)
        assert not leaks_of(text, FORMS_TOKEN), text
        assert "Traceback" not in text, text
    # Not vacuous: the server did get the token and echo it, and what came back shows masked.
    assert server.seen and all(
        s.headers["authorization"] == f"Bearer {FORMS_TOKEN}" for s in server.seen
    )
    if verbosity or mode != "links":  # quiet, a listing's links show nowhere
        assert any("***" in text or "%2A%2A%2A" in text for text in texts), outputs
    expected_exit = 0 if mode in ("fields", "links") else 1
    assert [p.returncode for p in procs] == [expected_exit] * len(procs), outputs
    if mode == "fields":
        assert len(written) == 2 and "raw=***" in (tmp_path / "imported" / "alpha.yaml").read_text()
        assert "raw=*** quote=***" in outputs[0]  # the update's before-value, masked
    if mode == "links":
        assert len(server.seen) == len(forms) + 1  # every page was read, to the last
    if verbosity and mode in ("links", "loop"):
        assert f"GET {server.url}{ECHO_TASK_PATH}?page=" in outputs[0]  # the logged URLs


# ---------------------------------------------------------------------------------------------
# pass_env is for the local runner only


def test_pass_env_is_never_sent_to_a_platform_and_never_shows_as_a_change(
    repo: Repo, sandbox: RunningSandbox
) -> None:
    repo.write("a", {**prompt_doc("alpha"), "pass_env": ["ENGINE_TOKEN"]})
    plan, result = repo.apply()
    assert result.ok and plan.summary["create"] == 1
    [change] = plan.targets[0].changes
    assert "pass_env" not in json.dumps(change.payload)
    raw = json.dumps(live(sandbox, repo.platform))
    assert "pass_env" not in raw and "ENGINE_TOKEN" not in raw
    assert not repo.plan().pending  # the platform lacks it, and that is no difference
    repo.write("a", {**prompt_doc("alpha"), "pass_env": ["OTHER_TOKEN"]})
    assert not repo.plan().pending


def test_pass_env_names_environment_variables(tmp_path: Path) -> None:
    repo = Repo(tmp_path, "https://engine.example.com", "engine")
    repo.write("a", {**prompt_doc("alpha"), "pass_env": ["ENGINE_TOKEN", "not a name"]})
    proc = run_cli(["validate"], cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "a.yaml:" in proc.stdout and "pass_env.1" in proc.stdout
