"""A zone name is checked along its own path of the zone database, with the same answer as
the full listing (`available_timezones()`, which opens every file of the database)."""

from __future__ import annotations

import zoneinfo
from pathlib import Path

import pytest

from reconciler import model


def names_to_try() -> set[str]:
    listed = zoneinfo.available_timezones()
    tried = set(listed)
    tried |= {z.lower() for z in listed} | {z.upper() for z in listed}
    tried |= {f"posix/{z}" for z in list(listed)[:50]} | {f"right/{z}" for z in list(listed)[:50]}
    tried |= {"posixrules", "localtime", "Factory", "Europe", "America/Argentina", "zone.tab",
              "tzdata.zi", "Europe/Rome/x", "Mars/Olympus", "", "/", "Europe//Rome", "posix",
              "right"}  # fmt: skip
    for root in zoneinfo.TZPATH:  # every file and directory the database has
        base = Path(root)
        if base.is_dir():
            tried |= {str(p.relative_to(base)) for p in base.rglob("*")}
    return tried


def test_a_name_is_a_zone_exactly_when_the_full_listing_has_it() -> None:
    listed = zoneinfo.available_timezones()
    wrong = [n for n in sorted(names_to_try()) if model._listed_zone(n) != (n in listed)]
    assert not wrong


def test_a_private_database_is_read_the_same_way(tmp_path: Path) -> None:
    """Links, non-zone files, right/ and posix/, case: on a database made for the test."""
    tzif = b"TZif2" + b"\0" * 40
    (tmp_path / "Area").mkdir()
    (tmp_path / "Area" / "City").write_bytes(tzif)
    (tmp_path / "Area" / "Notes").write_bytes(b"not a zone")
    (tmp_path / "Area" / "Link").symlink_to(tmp_path / "Area" / "City")
    (tmp_path / "Area" / "Broken").symlink_to(tmp_path / "nowhere")
    (tmp_path / "Linked").symlink_to(tmp_path / "Area")  # a directory link: not walked
    (tmp_path / "right").mkdir()
    (tmp_path / "right" / "City").write_bytes(tzif)
    (tmp_path / "posixrules").write_bytes(tzif)
    (tmp_path / "Top").write_bytes(tzif)
    try:
        zoneinfo.reset_tzpath([str(tmp_path)])
        listed = zoneinfo.available_timezones() - set(model._tzdata_zones())
        assert {"Area/City", "Area/Link", "Top"} <= listed
        for name in ["Area/City", "Area/Link", "Area/Broken", "Area/Notes", "Linked/City",
                     "right/City", "posixrules", "Top", "area/city", "Area", "Linked"]:  # fmt: skip
            if name in model._tzdata_zones():
                continue
            assert model._listed_zone(name) == (name in listed), name
    finally:
        zoneinfo.reset_tzpath()


@pytest.mark.parametrize("name", ["Europe/Rome", "UTC", "America/Argentina/Buenos_Aires"])
def test_real_zones_pass_the_check(name: str) -> None:
    assert model.check_timezone(name) == name
