"""Make docs/report.png: the example repository's report after a simulated week.

    python docs/report_screenshot.py            # needs Chromium (apt-get install chromium)

The example repository (examples/) against two sandboxes on virtual clocks (its own targets,
`local` engine and `local-aitroop`, served over loopback instead of embedded), with a failing
task and an hour of skipped ticks on Wednesday, a week advanced, then `schedctl report` and a
1280x800 screenshot of it taken offline.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.sandbox import SandboxOptions, running_sandbox  # noqa: E402

START = datetime(2026, 3, 23, tzinfo=timezone.utc)  # the week Europe moves its clocks
FAULTS = {
    "always_fail": ["exec-review*", "*expenses*"],
    "tokens": [800, 6000],
    "skip_ticks": [["2026-03-25T07:00:00Z", "2026-03-25T08:10:00Z"]],
}


def main() -> None:
    out = ROOT / "docs" / "report.png"
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "examples"
        shutil.copytree(ROOT / "examples", repo, ignore=shutil.ignore_patterns(".schedctl"))
        (Path(tmp) / "schemas").symlink_to(ROOT / "schemas")
        engine = SandboxOptions(platform="engine", seed=7, clock_kind="virtual", start=START)
        aitroop = SandboxOptions(platform="aitroop", seed=7, clock_kind="virtual", start=START)
        with running_sandbox(engine) as e, running_sandbox(aitroop) as a:
            config = yaml.safe_load((repo / "schedctl.yaml").read_text())
            config["targets"] = {
                "local": {"platform": "engine", "url": e.url, "instance": "acme"},
                "local-aitroop": {"platform": "aitroop", "url": a.url},
            }
            (repo / "schedctl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
            schedctl = [sys.executable, "-m", "reconciler"]
            subprocess.run([*schedctl, "apply", "--auto-approve"], cwd=repo, check=True)
            for box in (e, a):
                httpx.post(f"{box.url}/__sandbox/faults", json=FAULTS).raise_for_status()
                httpx.post(f"{box.url}/__sandbox/clock", json={"advance": "7d"}, timeout=300)
            now = (START + timedelta(days=7)).isoformat()
            page = Path(tmp) / "report.html"
            subprocess.run(
                [*schedctl, "report", "--now", now, "--out", str(page)], cwd=repo, check=True
            )
        subprocess.run(
            ["chromium", "--headless=new", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
             f"--screenshot={out}", "--window-size=1280,800", page.as_uri()],
            check=True, capture_output=True,
        )  # fmt: skip
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
