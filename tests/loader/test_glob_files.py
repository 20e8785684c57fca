"""Which files a config's globs read: regular files and links to them, inside the repository."""

from __future__ import annotations

from pathlib import Path

from reconciler.loader import expand_globs, show_path

DOC = "name: {}\nschedule: {{daily: '09:00'}}\naction: {{prompt: hi}}\n"


def test_links_directories_and_broken_links(tmp_path: Path) -> None:
    repo, outside = tmp_path / "repo", tmp_path / "outside"
    (repo / "schedules" / "deep").mkdir(parents=True)
    outside.mkdir()
    (repo / "schedules" / "b.yaml").write_text(DOC.format("b"))
    (repo / "schedules" / "deep" / "a.yaml").write_text(DOC.format("a"))
    (repo / "schedules" / "dir.yaml").mkdir()  # a directory: not a file
    (repo / "schedules" / "link-in.yaml").symlink_to(repo / "schedules" / "b.yaml")
    (outside / "x.yaml").write_text(DOC.format("x"))
    (repo / "schedules" / "link-out.yaml").symlink_to(outside / "x.yaml")
    (repo / "schedules" / "broken.yaml").symlink_to(repo / "nowhere.yaml")
    (repo / "schedules" / "schedctl.yaml").write_text("owner: x\n")  # a config: never a schedule

    files, problems = expand_globs(repo, ["schedules/**/*.yaml"])
    names = [str(p.relative_to(repo)) for p in files]
    # In path order: parts compared one by one ("b.yaml" < "deep" < "link-in.yaml").
    assert names == ["schedules/b.yaml", "schedules/deep/a.yaml", "schedules/link-in.yaml"]
    out = show_path(repo / "schedules" / "link-out.yaml")
    assert problems == [(0, f"{out} resolves outside the repository: not read")]

    files, problems = expand_globs(repo, ["schedules/broken.yaml", "schedules/dir.yaml"])
    assert files == []
    assert problems == [
        (0, "schedule glob 'schedules/broken.yaml' matches no file"),
        (1, "schedule glob 'schedules/dir.yaml' matches no file"),
    ]
