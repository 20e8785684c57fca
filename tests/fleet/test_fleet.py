"""Templates (one document, one schedule per item) and their errors, as the loader and
`schedctl validate` see them."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from reconciler.errors import Diagnostic
from reconciler.fleet import FleetInfo, collapse
from reconciler.forms import TemplateRef
from reconciler.loader import Project, load_project
from reconciler.validate import validate_project
from tests.conftest import ROOT, run_cli

CONFIG = """
owner: acme
defaults: {timezone: Europe/Rome, targets: [prod]}
vars:
  channel: C0ACME
  customers:
    - {slug: acme, name: Acme, targets: [prod, reports]}
    - {slug: globex, name: Globex, targets: [prod]}
  regions: [eu, us]
targets:
  prod: {platform: engine, url: "https://engine.example.com", instance: acme}
  reports: {platform: aitroop, url: "https://app.aitroop.example"}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write(tmp_path / "schedctl.yaml", CONFIG)
    monkeypatch.chdir(tmp_path)  # diagnostics name files relative to here
    return tmp_path


def load(repo: Path) -> tuple[Project, list[Diagnostic]]:
    project = load_project([], str(repo / "schedctl.yaml"))
    return project, validate_project(project)


def errors(found: list[Diagnostic]) -> list[str]:
    return [str(d) for d in found if d.severity == "error"]


def test_scalar_items_expand_to_one_schedule_each(repo: Path) -> None:
    write(
        repo / "schedules" / "poll.yaml",
        """
        for_each: [eu, us, apac]
        template:
          name: "poll-{{ item }}"
          title: "Poll {{ item }}"
          description: "Region {{ item }}, channel {{ vars.channel }}."
          schedule: {every: 15m}
          action: {prompt: "Poll the {{ item }} queue."}
          deliver: {channel: slack, target: "{{ vars.channel }}-{{ item }}"}
        """,
    )
    project, found = load(repo)
    assert errors(found) == []
    by_key = {s.key: s for s in project.schedules}
    assert sorted(by_key) == ["poll-apac", "poll-eu", "poll-us"]
    eu = by_key["poll-eu"].schedule
    assert eu.title == "Poll eu"
    assert eu.description == "Region eu, channel C0ACME."
    assert eu.action.prompt == "Poll the eu queue."
    assert eu.deliver is not None and eu.deliver.target == "C0ACME-eu"
    # The fleet is named by the fixed text of its name pattern; each item by its value.
    assert by_key["poll-us"].template == TemplateRef("poll", "us", "")
    assert project.fleets["poll"].items == ["eu", "us", "apac"]


def test_mapping_items_from_vars_with_typed_targets_and_app_input(repo: Path) -> None:
    write(
        repo / "schedules" / "digest.yaml",
        """
        fleet: digest
        description: customer digests
        for_each: customers
        template:
          name: "digest-{{ item.slug }}"
          title: "{{ item.name }} digest"
          schedule: {daily: "09:00", timezone: Europe/Rome}
          action:
            app:
              id: app_1
              input: {company: "{{ item.name }}", regions: "{{ vars.regions }}", n: 3}
          targets: "{{ item.targets }}"
        """,
    )
    project, found = load(repo)
    # engine runs no apps: the one platform error, for the one item that goes to engine too
    # engine runs no apps: one error for both items (each goes to engine too), at `app`
    assert errors(found) == [
        "schedules/digest.yaml:10:7: error: digest[*]: engine target 'prod': engine runs "
        "prompts only; it has no app runs"
    ]
    pairs = sorted((s.key, s.target) for s in project.schedules)
    assert pairs == [("digest-acme", "prod"), ("digest-acme", "reports"), ("digest-globex", "prod")]
    acme = next(s for s in project.schedules if s.target == "reports")
    assert acme.schedule.action.app is not None
    # A whole placeholder keeps its type (a list); one inside text is written into it.
    assert acme.schedule.action.app.input == {"company": "Acme", "regions": ["eu", "us"], "n": 3}
    assert acme.schedule.title == "Acme digest"
    assert acme.template == TemplateRef("digest", "acme", "customer digests")


def test_errors_name_the_template_line_and_the_item(repo: Path) -> None:
    path = write(
        repo / "schedules" / "digest.yaml",
        """
        fleet: digest
        for_each:
          - {slug: acme, name: Acme}
          - {slug: Globex Inc, name: Globex}
          - {slug: initech}
        template:
          name: "digest-{{ item.slug }}"
          title: "{{ item.name }} digest"
          schedule: {daily: "09:00"}
          action: {prompt: "Summarise yesterday for {{ item.slug }}."}
        """,
    )
    assert path.exists()
    project, found = load(repo)
    assert errors(found) == [
        "schedules/digest.yaml:7:9: error: digest[Globex Inc]: name: expected lower-case "
        "letters, digits and '-', at most 63 characters and not starting with '-', e.g. "
        "morning-digest, not 'digest-Globex Inc' (did you mean 'digest-globex-inc'?)",
        "schedules/digest.yaml:8:10: error: digest[initech]: {{ item.name }}: item has no "
        "field 'name' (it has: slug)",
    ]
    assert [s.key for s in project.schedules] == ["digest-acme"]


def test_a_later_platform_error_points_at_the_field_of_the_template(repo: Path) -> None:
    write(
        repo / "schedules" / "digest.yaml",
        """
        for_each: [acme, globex]
        template:
          name: "digest-{{ item }}"
          schedule: {daily: "09:00"}
          action: {prompt: "Summarise {{ item }}."}
          history: fresh
          targets: [reports]
        """,
    )
    _, found = load(repo)
    # Shared by every item: said once, for all of them, at the line of `history`.
    assert errors(found) == [
        "schedules/digest.yaml:6:12: error: digest[*]: aitroop target 'reports': aitroop keeps "
        "one session per schedule; `history: fresh` cannot be expressed"
    ]


def test_keys_must_be_unique_across_templates_and_files(repo: Path) -> None:
    write(
        repo / "schedules" / "a.yaml",
        """
        for_each: [eu, us]
        template:
          name: "poll-{{ item }}"
          schedule: {every: 15m}
          action: {prompt: poll}
        """,
    )
    write(
        repo / "schedules" / "b.yaml", "name: poll-us\nschedule: {every: 1h}\naction: {prompt: x}\n"
    )
    _, found = load(repo)
    assert errors(found) == [
        "schedules/b.yaml:1:7: error: duplicate schedule 'poll-us' for target 'prod' "
        "(first defined at schedules/a.yaml:3)"
    ]
    write(
        repo / "schedules" / "b.yaml",
        """
        for_each: [x]
        template:
          name: "poll-{{ item }}"
          schedule: {every: 15m}
          action: {prompt: poll}
        """,
    )
    _, found = load(repo)
    assert errors(found) == [
        "schedules/b.yaml:3:9: error: poll[*]: another template is called 'poll' (at "
        "schedules/a.yaml:1): name this one with `fleet: NAME`"
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "for_each: 3\ntemplate: {name: 'x-{{ item }}', schedule: {daily: '09:00'}, action: {prompt: p}}\n",
            "1:11: error: x[*]: for_each: expected a list of items, or the name of a list in the "
            "config's vars, not a value (for_each: [acme, globex] or for_each: customers)",
        ),
        (
            "for_each: [a, [b]]\ntemplate: {name: 'x-{{ item }}', schedule: {daily: '09:00'}, action: {prompt: p}}\n",
            "1:15: error: x[*]: for_each[1] is a list: an item is a value (acme) or a mapping "
            "({slug: acme, name: Acme})",
        ),
        (
            "for_each: [a]\ntemplate: {name: 'x-{{ item }}', schedule: {daily: '09:00'}, action: {prompt: '{{ vars.nope }}'}}\n",
            "2:79: error: x[*]: {{ vars.nope }}: the config has no var 'nope' (its vars: channel, "
            "customers, regions)",
        ),
        (
            "for_each: [a]\ntemplate: {name: 'x-{{ item }}', schedule: {daily: '09:00'}, action: {prompt: 'a {{ item'}}\n",
            "2:79: error: x[*]: unclosed `{{`: a placeholder is written {{ item }}",
        ),
        (
            "for_each: [a]\ntemplate: {name: 'x-{{ item }}', schedule: {daily: '09:00'}, action: {prompt: '{{ item.__class__ }}'}}\n",
            "2:79: error: x[a]: {{ item.__class__ }}: item is a value, so it has no field "
            "'__class__' (`.__class__` needs a mapping item)",
        ),
        (
            "for_each: [a]\ntemplate: {name: 'x-{{ item }}', schedule: {daily: '09:00'}, action: {prompt: '{{ 7 * 7 }}'}}\n",
            "2:79: error: x[*]: unknown placeholder {{ 7 * 7 }}: a template knows {{ item }}, "
            "{{ item.FIELD }} and {{ vars.NAME }}",
        ),
        (
            "for_each: [a]\nfor_eahc: [b]\ntemplate: {name: 'x-{{ item }}', schedule: {daily: '09:00'}, action: {prompt: p}}\n",
            "2:1: error: x[*]: unknown key 'for_eahc' in a template document (did you mean "
            "'for_each'?)",
        ),
    ],
    ids=["not-a-list", "item-list", "unknown-var", "unclosed", "no-attributes", "no-code", "typo"],
)
def test_bad_templates_say_where_and_what(repo: Path, body: str, expected: str) -> None:
    write(repo / "schedules" / "t.yaml", body)
    project, found = load(repo)
    assert errors(found) == [f"schedules/t.yaml:{expected}"]
    assert project.schedules == []


def test_an_empty_item_list_makes_no_schedule(repo: Path) -> None:
    write(
        repo / "schedules" / "t.yaml",
        "for_each: []\ntemplate: {name: 'x-{{ item }}', schedule: {daily: '09:00'}, action: {prompt: p}}\n",
    )
    write(
        repo / "schedules" / "one.yaml",
        "name: one\nschedule: {daily: '10:00'}\naction: {prompt: p}\n",
    )
    project, found = load(repo)
    assert errors(found) == []
    assert [s.key for s in project.schedules] == ["one"]


def test_collapse_keeps_single_items_and_names_some() -> None:
    fleets = {"d": FleetInfo("d", "f:1", "", ["a", "b", "c"])}
    found = [
        Diagnostic("f", 3, 5, "d[a]: boom"),
        Diagnostic("f", 3, 5, "d[b]: boom"),
        Diagnostic("f", 4, 5, "d[c]: other"),
        Diagnostic("f", 4, 5, "not a template"),
    ]
    assert sorted(d.message for d in collapse(found, fleets)) == [
        "d[a, b]: boom",
        "d[c]: other",
        "not a template",
    ]
    every = [Diagnostic("f", 3, 5, f"d[{x}]: boom") for x in "abc"]
    assert [d.message for d in collapse(every, fleets)] == ["d[*]: boom"]


def test_validate_cli_reports_template_errors_in_every_format(repo: Path) -> None:
    write(
        repo / "schedules" / "digest.yaml",
        """
        fleet: digest
        for_each: [acme, globex]
        template:
          name: "digest-{{ item }}"
          title: "{{ itme }} digest"
          schedule: {daily: "09:00"}
          action: {prompt: hi}
        """,
    )
    text = run_cli(["validate"], cwd=repo)
    assert text.returncode == 1 and "Traceback" not in text.stderr
    assert (
        "schedules/digest.yaml:5:10: error: digest[*]: unknown placeholder {{ itme }}: a template "
        "knows {{ item }}, {{ item.FIELD }} and {{ vars.NAME }}" in text.stdout
    )
    github = run_cli(["validate", "--format", "github"], cwd=repo)
    assert github.stdout.startswith("::error file=schedules/digest.yaml,line=5,col=10::digest[*]")
    data = json.loads(run_cli(["validate", "--format", "json"], cwd=repo).stdout)
    assert data["valid"] is False and data["errors"][0]["line"] == 5


def test_validate_cli_accepts_a_good_template(repo: Path) -> None:
    write(
        repo / "schedules" / "digest.yaml",
        """
        # yaml-language-server: $schema=../schemas/schedule.schema.json
        fleet: digest
        for_each: customers
        template:
          name: "digest-{{ item.slug }}"
          title: "{{ item.name }} digest"
          schedule: {cron: "H 9 * * 1-5"}
          action: {prompt: "Summarise yesterday for {{ item.name }}."}
          spread: true
        """,
    )
    result = run_cli(["validate"], cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: 2 schedules in 1 file are valid" in result.stdout


def test_the_committed_schema_describes_template_documents_and_vars(tmp_path: Path) -> None:
    """check-jsonschema (what editors and hooks run) takes a template and a config with vars,
    and refuses a template without items."""
    good = write(
        tmp_path / "good.yaml",
        """
        fleet: digest
        description: customer digests
        for_each: [{slug: acme, name: Acme}]
        template:
          name: "digest-{{ item.slug }}"
          title: "{{ item.name }} digest"
          schedule: {weekly: {at: "H(8-10):H", days: [mon]}}
          action: {prompt: "Hi {{ item.name }}"}
          deliver: {channel: "{{ item.channel }}", target: C1}
          targets: "{{ item.targets }}"
          spread: true
        """,
    )
    bad = write(
        tmp_path / "bad.yaml",
        "template: {name: x, schedule: {daily: '09:00'}, action: {prompt: p}}\n",
    )
    mixed = write(
        tmp_path / "mixed.yaml",
        "name: x\nfor_each: [a]\ntemplate: {name: 'x-{{ item }}', schedule: {daily: '09:00'}, action: {prompt: p}}\n",
    )
    config = write(
        tmp_path / "config" / "schedctl.yaml",
        CONFIG.replace("defaults: {", "defaults: {spread: true, "),
    )

    def check(schema: str, path: Path) -> int:
        import subprocess
        import sys

        return subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--schemafile",
             str(ROOT / "schemas" / schema), str(path)],
            capture_output=True, text=True, timeout=60,
        ).returncode  # fmt: skip

    assert check("schedule.schema.json", good) == 0
    assert check("schedule.schema.json", bad) == 1
    assert check("schedule.schema.json", mixed) == 1
    assert check("config.schema.json", config) == 0


# --- plans: the template travels with each change ------------------------------------------------


def _fleet_changes(count: int, prompt_size: int = 10) -> list[Any]:
    from reconciler.forms import FieldChange
    from reconciler.plan import Change

    return [
        Change(
            "create", f"digest-c{i}", f"C{i} digest",
            fields=(FieldChange("enabled", None, True),
                    FieldChange("action.prompt", None, f"{i}" + "x" * prompt_size)),
            after={"schedule": {"daily": "09:00"}, "action": {"prompt": "p"}},
            source="schedules/d.yaml:4",
            template=TemplateRef("digest", f"c{i}", "customer digests"),
        )
        for i in range(count)
    ]  # fmt: skip


def test_plan_json_keeps_the_template_of_each_change() -> None:
    from reconciler.plan import Plan, TargetPlan

    plan = Plan([TargetPlan("t", "engine", changes=_fleet_changes(2))], owner="acme")
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["targets"][0]["changes"][1]["template"] == {
        "name": "digest",
        "item": "c1",
        "description": "customer digests",
    }
    again = Plan.from_dict(data)
    assert again.targets[0].changes[1].template == TemplateRef("digest", "c1", "customer digests")
    assert again.to_dict() == plan.to_dict()


def test_text_plan_groups_a_template_and_says_shared_changes_once() -> None:
    from reconciler.plan import Plan, TargetPlan
    from reconciler.render.plan import render_plan

    text = render_plan(Plan([TargetPlan("t", "engine", changes=_fleet_changes(3))], owner="acme"))
    lines = text.splitlines()
    assert lines[1] == "  + 3 × digest[*] (customer digests)  schedules/d.yaml:4"
    assert lines[2] == "      enabled: true"  # every one of them: once
    assert lines[3] == "      + digest-c0  'C0 digest'"
    assert lines[4] == '          action.prompt: "0xxxxxxxxxx"'
    assert text.count("enabled: true") == 1
    one = render_plan(Plan([TargetPlan("t", "engine", changes=_fleet_changes(1))], owner="acme"))
    assert "  + digest-c0  'C0 digest'  schedules/d.yaml:4" in one and "×" not in one


def test_markdown_groups_a_template_and_stays_under_the_limit() -> None:
    from datetime import datetime, timezone

    from reconciler.plan import Plan, TargetPlan
    from reconciler.render.plan import render_markdown

    now = datetime(2026, 6, 1, tzinfo=timezone.utc)
    plan = Plan([TargetPlan("t", "engine", changes=_fleet_changes(2000, 100))], owner="acme")
    text = render_markdown(plan, now)
    assert len(text) <= 65_536
    assert text.count("<details>") == 1
    assert "<b>2000 × digest[*] (customer digests)</b>" in text
    assert "more of this template left out: run `schedctl plan` for all." in text
    assert "Estimated runs per day: +2000 added" in text  # every change counts, shown or not


# --- templates never crash the loader -----------------------------------------------------------


def test_random_templates_never_raise(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    write(tmp_path / "schedctl.yaml", CONFIG)
    texts = st.sampled_from(
        ["{{ item }}", "{{ item.slug }}", "{{ vars.channel }}", "{{ vars.customers }}", "{{",
         "{{ x }}", "a-{{ item }}", "{{ item.a.b }}", "}}", "{{ vars }}", "plain", ""]
    )  # fmt: skip
    values = st.recursive(
        st.none() | st.booleans() | st.integers() | texts,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
        max_leaves=8,
    )
    schedules = st.sampled_from(
        [{"cron": "H 9 * * *"}, {"cron": "0 25 * * *"}, {"cron": "H(1-99) * * * *"},
         {"daily": "09:H"}, {"daily": "H(1-99):H"}, {"weekly": {"at": "H", "days": ["mon"]}},
         {"every": "15m", "anchor": "2026-01-01T00:00:00"}, {"at": "2031-01-01T09:00:00"}]
    ) | values  # fmt: skip
    bodies = st.fixed_dictionaries(
        {"name": texts, "schedule": schedules},
        optional={
            "title": values, "targets": values, "deliver": values, "spread": st.booleans(),
            "action": st.fixed_dictionaries({}, optional={"prompt": values, "app": values}),
        },
    )  # fmt: skip
    documents = st.fixed_dictionaries(
        {"template": bodies | values},
        optional={"for_each": values, "fleet": values, "description": values, "extra": values},
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(documents, min_size=1, max_size=3))
    def run(docs: list[dict[str, Any]]) -> None:
        import yaml

        (tmp_path / "schedules").mkdir(exist_ok=True)
        (tmp_path / "schedules" / "f.yaml").write_text(yaml.safe_dump_all(docs))
        project = load_project([], str(tmp_path / "schedctl.yaml"))
        validate_project(project)

    run()
