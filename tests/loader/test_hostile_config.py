"""Hostile or wrong input caught offline: alias amplification, a second `<<`, config globs,
target URLs, token variables, instances, and two targets reaching one collection.

Unit tests of the rules (reconciler/model.py, reconciler/yamlpos.py, reconciler/targets.py)
and of the loader's diagnostics; what the CLI prints and that nothing reaches a server is
tests/reliability/test_hostile_input.py. The corpus (tests/cases/invalid/config-*) holds the
exact messages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.loader import load_config, load_project
from reconciler.model import (
    _URL,
    Target,
    check_glob,
    check_instance,
    check_token_env,
    looks_like_token,
    normalize_url,
    url_problem,
)
from reconciler.targets import collection_of
from reconciler.yamlpos import MAX_EXPANDED_CHARS, MAX_FILE_BYTES, YamlProblem, load_documents

# ---------------------------------------------------------------------------------------------
# Alias amplification


def expanding_to(total: int, *, repeats: int = 40) -> str:
    """A document whose scalar text, aliases expanded, is exactly `total` characters.

    `a: &a X` and `b: [*a, ...]` count 1 + len(X) + 1 + repeats * len(X); `c: PAD` the rest.
    """
    length = (total - 3) // (repeats + 1) - 10
    pad = total - 3 - (repeats + 1) * length
    assert length > 0 and pad > 0
    return f"a: &a {'x' * length}\nb: [{', '.join(['*a'] * repeats)}]\nc: {'p' * pad}\n"


def test_text_expanded_through_aliases_is_bounded_exactly_at_the_limit() -> None:
    ((value, _),) = load_documents(expanding_to(MAX_EXPANDED_CHARS))
    assert len(value["b"]) == 40 and value["b"][0] is value["a"]  # shared, not copied
    with pytest.raises(YamlProblem) as exc:
        load_documents(expanding_to(MAX_EXPANDED_CHARS + 1))
    assert exc.value.message.startswith(
        f"text expands to more than {MAX_EXPANDED_CHARS} characters through aliases"
    )
    assert exc.value.pos == (1, 1)  # the document: no one node passes the limit on its own


def test_the_bound_points_at_the_collection_that_passes_it() -> None:
    big = "x" * 100_000
    text = f"name: amp\nprompt: &p {big}\nrepeated:\n" + "  - *p\n" * 1500
    assert len(text) < 2 * MAX_FILE_BYTES // 10  # about 110 KB that would expand to 150 MB
    with pytest.raises(YamlProblem) as exc:
        load_documents(text)
    assert exc.value.pos == (4, 3)
    assert "alias bomb?" in exc.value.message


def test_the_bound_holds_for_a_whole_file_of_documents() -> None:
    """Each document under the limit, together over it: aliases cannot cross documents, but
    many small amplified documents add up just the same."""
    half = expanding_to(MAX_EXPANDED_CHARS // 2)
    assert len(load_documents(half)) == 1
    assert len(load_documents(f"{half}---\n{half}")) == 2  # together exactly at the limit
    with pytest.raises(YamlProblem) as exc:
        load_documents(f"{half}---\n{half}---\n{half}")
    assert exc.value.pos.line == 2 * half.count("\n") + 3  # inside the third document


def test_realistic_reuse_of_a_long_prompt_is_fine() -> None:
    prompt = "Summarise the day. " * 5_000  # 95 KB, reused by three overrides
    text = (
        f"name: long\nschedule: {{daily: '09:00'}}\naction: &act {{prompt: {prompt}}}\n"
        "overrides:\n" + "".join(f"  t{i}: {{action: *act}}\n" for i in range(3))
    )
    ((value, _),) = load_documents(text)
    assert value["overrides"]["t2"]["action"]["prompt"] == prompt.strip()


# ---------------------------------------------------------------------------------------------
# Merge keys


def test_two_merge_keys_are_a_duplicate_key_at_the_second() -> None:
    text = "a: &a {x: 1}\nb: &b {y: 2}\nc:\n  <<: *a\n  z: 3\n  <<: *b\n"
    with pytest.raises(YamlProblem) as exc:
        load_documents(text)
    assert exc.value.pos == (6, 3)
    assert exc.value.message.startswith("duplicate key '<<' (first at line 4)")
    assert "<<: [*base, *extra]" in exc.value.message
    # The one documented way to merge several: a list under one key.
    ((value, _),) = load_documents(text.replace("  <<: *a\n  z: 3\n  <<: *b\n", "  <<: [*a, *b]\n"))
    assert value["c"] == {"x": 1, "y": 2}


# ---------------------------------------------------------------------------------------------
# Globs


@pytest.mark.parametrize("glob", ["", ".", "./", ".//", "./.", "/"[:0] + "./././"])
def test_globs_naming_the_whole_tree_are_errors(glob: str) -> None:
    with pytest.raises(ValueError, match="names the whole repository, not schedule files"):
        check_glob(glob)


@pytest.mark.parametrize("glob", ["a**", "schedules/**.yaml", "**x/*.yaml"])
def test_double_star_must_be_a_whole_component(glob: str) -> None:
    with pytest.raises(ValueError, match="must be a whole path component"):
        check_glob(glob)


@pytest.mark.parametrize(
    "glob", ["schedules/**/*.yaml", "./schedules/*.yml", "*.yaml", "**/*.yaml", "a.yaml"]
)
def test_ordinary_globs_pass(glob: str) -> None:
    assert check_glob(glob) == glob


@pytest.mark.parametrize("glob", [".", "", "./", "a**"])
def test_bad_globs_are_config_errors_at_their_line(tmp_path: Path, glob: str) -> None:
    """They used to crash pathlib (IndexError, ValueError, AttributeError) with a traceback."""
    (tmp_path / "schedctl.yaml").write_text(f'owner: x\nschedules:\n  - a.yaml\n  - "{glob}"\n')
    (tmp_path / "a.yaml").write_text("name: a\nschedule: {daily: '09:00'}\naction: {prompt: a}\n")
    project = load_project([], str(tmp_path / "schedctl.yaml"))
    assert [(d.line, d.column) for d in project.errors] == [(4, 5)]
    assert project.errors[0].message.startswith(f"schedules.1: schedule glob {glob!r}")


# ---------------------------------------------------------------------------------------------
# URLs

GOOD_URLS = [
    "https://engine.example.com",
    "http://127.0.0.1:8080/",
    "http://[::1]:8080/api",
    "HTTPS://Engine.Example.com:443/api/",
    "https://bücher.example/",
    "http://localhost:1",
    "https://h.example/a/b%20c",
]
BAD_URLS = {
    "http://[::1": "unbalanced brackets",
    "http://::1]": "unbalanced brackets",
    "http://h]/": "unbalanced brackets",
    "http://[::1]x/": "unexpected text after the ]",
    "http://[127.0.0.1]/": "brackets go only around an IPv6 address",
    "http://h/a[0]": "brackets [ ] belong only around an IPv6 host",
    "http://bob:PW@host": "must not hold a user name or password",
    "http://bob@host/": "must not hold a user name or password",
    "http://host/a@b": "must not hold a user name or password",
    "ftp://engine.example.com": "the scheme must be http or https",
    "javascript://x": "the scheme must be http or https",
    "engine.example.com": "not a URL",
    "http://h x": "spaces, control or invisible characters",
    " http://h": "spaces, control or invisible characters",
    "http://h\n": "spaces, control or invisible characters",
    "http://h\x1b[31m": "spaces, control or invisible characters",
    "http://h\u200b.example": "spaces, control or invisible characters",
    "http://h\u202e.example": "spaces, control or invisible characters",
    "http://h/?x=1": "no ?query or #fragment",
    "http://h#top": "no ?query or #fragment",
    "http://h?": "no ?query or #fragment",
    "http://": "has no host",
    "http://:8080/": "has no host",
    "http:///path": "has no host",
    "http://h:": "the port must be a number from 1 to 65535",
    "http://h:0": "the port must be a number from 1 to 65535",
    "http://h:65536": "the port must be a number from 1 to 65535",
    "http://h:80:80": "the port must be a number from 1 to 65535",
    "http://h:８０": "the port must be a number from 1 to 65535",
    "http://h\\evil.example/": "not a valid http(s) base URL",
}


@pytest.mark.parametrize("url", GOOD_URLS)
def test_good_urls_pass_the_model_and_the_schema_pattern(url: str) -> None:
    assert url_problem(url) is None
    assert _URL.fullmatch(url)


@pytest.mark.parametrize(("url", "problem"), BAD_URLS.items(), ids=list(BAD_URLS))
def test_bad_urls_say_what_is_wrong_without_quoting_the_url(url: str, problem: str) -> None:
    message = url_problem(url)
    assert message is not None and problem in message
    assert repr(url) not in message and "PW" not in message and "bob" not in message
    assert "e.g." in message or "as in" in message or "write" in message  # an example


def test_the_schema_pattern_is_never_stricter_than_the_model() -> None:
    """What the JSON schema (the same regex) rejects, the model rejects too: editors and
    check-jsonschema never flag a URL that validate accepts."""
    for url in [*GOOD_URLS, *BAD_URLS]:
        if not _URL.fullmatch(url):
            assert url_problem(url) is not None, url


@pytest.mark.parametrize(
    "spellings",
    [
        [
            "https://engine.example.com",
            "https://engine.example.com/",
            "HTTPS://Engine.EXAMPLE.com:443",
            "https://engine.example.com.//",
            "https://engine.example.com/./",
            "https://%65ngine.example.com",
        ],
        ["http://h.example/api", "http://H.example:80/api/", "http://h.example/x/../api"],
        ["http://[::1]:8080/", "http://[0:0:0:0:0:0:0:1]:8080", "http://[::0001]:8080"],
        ["https://bücher.example", "https://xn--bcher-kva.example/"],
        ["http://h.example/%7euser", "http://h.example/~user/"],
        ["http://h.example/a%2fb", "http://h.example/a%2Fb"],
    ],
)
def test_spellings_of_one_url_normalize_alike(spellings: list[str]) -> None:
    assert len({normalize_url(u) for u in spellings}) == 1, [normalize_url(u) for u in spellings]


def test_normalized_urls_keep_what_reaches_a_different_place() -> None:
    distinct = [
        "http://h.example",
        "https://h.example",
        "http://h.example:8080",
        "https://h.example:80",
        "http://h.example/api",
        "http://h.example/API",
        "http://h.example/a%2Fb",
        "http://h.example/a/b",
        "http://h.example//",  # trailing slashes are dropped: the client strips them too
        "http://g.example",
    ]
    assert len({normalize_url(u) for u in distinct}) == len(distinct) - 1
    assert normalize_url("HTTP://H.Example:80") == "http://h.example/"
    assert normalize_url("https://h.example:8443/v1/") == "https://h.example:8443/v1"


# ---------------------------------------------------------------------------------------------
# token_env and instance

NAMES = [
    "ENGINE_TOKEN",
    "AT_USER_TOKEN",
    "SCHEDCTL_T_TOKEN",
    "GITHUB_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "engine_token",
    "MY_APP_V2_TOKEN",
    "OAUTH2_ACCESS_TOKEN",
    "engineTokenForProduction",
    "SCHEDCTL_REL_TOKEN",
    "_PRIVATE",
]
TOKENS = [
    "ghp_R4nd0mT0k3nV4lu3xQ9zL2mK8pW5sD1fG7hJ3",
    "github_pat_11ABCDEFG0123456789",
    "xoxb_abcdef",
    "Zq81x7Kp3Vw9Lm2Tr6Yb4Nc0Hd5Gj8Fs",
    "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    "f47ac10b58cc4372a5670e02b2c3d479",
    "eyJhbGciOiJIUzI1NiJ9",
    "A" * 65,
]


@pytest.mark.parametrize("name", NAMES)
def test_variable_names_pass(name: str) -> None:
    assert not looks_like_token(name)
    assert check_token_env(name) == name


@pytest.mark.parametrize(
    "token", [*TOKENS, "sk-proj-Zq81x7Kp3Vw9Lm2Tr6Yb4", "$MY_VARIABLE", "a b", "NAME\n"]
)
def test_a_token_or_a_non_name_is_refused_without_echo(token: str) -> None:
    with pytest.raises(ValueError) as exc:
        check_token_env(token)
    message = str(exc.value)
    assert "e.g. token_env: ENGINE_TOKEN" in message
    assert not any(token[i : i + 6] in message for i in range(len(token) - 5)), message


@pytest.mark.parametrize("token", TOKENS)
def test_tokens_are_named_as_tokens(token: str) -> None:
    assert looks_like_token(token)


@pytest.mark.parametrize("instance", ["acme", "a", "local", "beta", "team-1", "acme.prod", "a_b"])
def test_slugs_are_instances(instance: str) -> None:
    assert check_instance(instance) == instance


@pytest.mark.parametrize(
    "instance",
    ["acme?x=1", "acme#x", "a/b", "..", ".", "a..b", ".acme", "acme.", "my acme", "Acme", "",
     "acme\n", "-acme", "a" * 64, "acme%2f", "ac\u200bme"],
)  # fmt: skip
def test_anything_else_is_not_an_instance(instance: str) -> None:
    with pytest.raises(ValueError, match="an instance is a slug"):
        check_instance(instance)


# ---------------------------------------------------------------------------------------------
# Two targets on one collection


def test_collection_identity(tmp_path: Path) -> None:
    def of(**fields: str) -> object:
        platform = fields.pop("platform", "engine")
        return collection_of(Target(platform=platform, **fields), tmp_path)  # type: ignore[arg-type]

    url = "https://engine.example.com"
    assert of(url=url, instance="acme") == of(
        url="HTTPS://ENGINE.example.com:443/", instance="acme"
    )
    assert of(url=url, instance="acme") != of(url=url, instance="beta")
    assert of(url=url, instance="acme") != of(url=url, instance="acme", platform="aitroop")
    assert (
        of(sandbox="sb.db") == of(sandbox="./x/../sb.db") == of(sandbox="sb.db", instance="local")
    )
    assert of(sandbox="sb.db") != of(sandbox="sb.db", instance="other")
    assert of(sandbox="sb.db") != of(sandbox="sb.db", platform="aitroop")
    assert of(sandbox="sb.db") != of(sandbox="other.db")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert of(sandbox="link/sb.db") == of(sandbox="real/sb.db")  # one file, as connect() sees it


def test_shared_collections_name_both_targets_at_the_second(tmp_path: Path) -> None:
    config = tmp_path / "schedctl.yaml"
    config.write_text(
        "targets:\n"
        "  a: {platform: engine, url: 'https://e.example', instance: acme}\n"
        "  b: {platform: engine, url: 'https://e.example', instance: beta}\n"
        "  c:\n"
        "    platform: engine\n"
        "    url: 'https://E.example:443/'\n"
        "    instance: acme\n"
        "  d: {platform: aitroop, url: 'https://e.example'}\n"
        "  e: {platform: aitroop, url: 'https://e.example/'}\n"
    )
    loaded, _, _, problems = load_config(config)
    assert [(d.line, d.column, d.message.split(":")[0]) for d in problems] == [
        (4, 3, "targets.c"),
        (9, 3, "targets.e"),
    ]
    assert "same engine collection as target 'a' (line 2)" in problems[0].message
    assert "https://e.example/, instance 'acme'" in problems[0].message
    assert "same aitroop collection as target 'd' (line 8)" in problems[1].message
    assert list(loaded.targets) == ["local"]  # nothing of the refused config is usable
