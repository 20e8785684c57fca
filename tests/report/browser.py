"""A real browser for the report's tests: Debian's headless Chromium, driven from the command
line (no Python dependency), with the network cut off.

Every request the browser makes goes to a proxy on loopback that answers nothing and records
what was asked: a page that fetches anything shows up there (Chromium's own update and time
services are told apart by their hosts). The console is read from Chromium's log (`CONSOLE`
lines), and the DOM as Chromium built it from `--dump-dom`, parsed into elements a test can
query by id and attribute.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

# Chromium's own background services: never a page's request.
BROWSER_HOSTS = ("google.com", "googleapis.com", "gvt1.com", "gstatic.com")
QUIET = (
    "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
    "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-default-apps", "--disable-domain-reliability", "--no-pings",
    "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)  # fmt: skip


def chromium() -> str:
    """The Chromium binary; the test is skipped, saying why, where there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium; .ci/run does)")
    return found


class Proxy:
    """A loopback proxy that refuses everything and remembers each request line."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.requests: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    head = conn.recv(4096).decode("latin-1")
                except OSError:
                    head = ""
                self.requests.append(head.split("\r\n", 1)[0])

    def page_requests(self) -> list[str]:
        """The requests that are not Chromium's own services'."""
        out = []
        for line in self.requests:
            parts = line.split()
            target = parts[1] if len(parts) > 1 else line
            host = target.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
            if not host.endswith(BROWSER_HOSTS):
                out.append(line)
        return out

    def close(self) -> None:
        self.sock.close()


@dataclass
class Loaded:
    dom: str
    console: list[str]  # the page's console messages and uncaught errors
    requests: list[str]  # the page's own requests (must be none)
    stderr: str


@contextmanager
def browser_proxy() -> Iterator[Proxy]:
    proxy = Proxy()
    try:
        yield proxy
    finally:
        proxy.close()


def _run(exe: str, proxy: Proxy, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(profile)}  # no dbus, no real profile: a clean start
    return subprocess.run(
        [exe, *QUIET, f"--user-data-dir={profile}", f"--proxy-server=http://127.0.0.1:{proxy.port}",
         "--proxy-bypass-list=<-loopback>", *args],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def load(page: Path, profile: Path) -> Loaded:
    """Load `page` offline and dump its DOM once loaded (virtual time lets late work finish)."""
    exe = chromium()
    with browser_proxy() as proxy:
        done = _run(exe, proxy, profile, "--virtual-time-budget=3000", "--dump-dom", page.as_uri())
        assert done.returncode == 0, done.stderr[-2000:]
        console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
        return Loaded(done.stdout, console, proxy.page_requests(), done.stderr)


def screenshot(page: Path, out: Path, profile: Path, size: str = "1280,800") -> Path:
    exe = chromium()
    with browser_proxy() as proxy:
        done = _run(
            exe, proxy, profile, f"--screenshot={out}", f"--window-size={size}", page.as_uri()
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert proxy.page_requests() == []
    assert out.stat().st_size > 1000
    return out


# ---------------------------------------------------------------------------------------------
# The DOM as Chromium serialised it


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None = None
    children: list[Element] = field(default_factory=list)
    text: str = ""

    def ancestors(self) -> Iterator[Element]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            yield from child.iter()

    def all_text(self) -> str:
        return self.text + "".join(c.all_text() for c in self.children)

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        """Descendants with this tag, class and attributes (`data_slot` for data-slot)."""
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [
            e
            for e in self.iter()
            if (tag is None or e.tag == tag)
            and (cls is None or cls in e.attrs.get("class", "").split())
            and all(e.attrs.get(k) == v for k, v in wanted.items())
        ]

    def by_id(self, ident: str) -> Element:
        (found,) = [e for e in self.iter() if e.attrs.get("id") == ident]
        return found


_VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "source", "wbr"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.node = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.node)
        self.node.children.append(element)
        if tag not in _VOID:
            self.node = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.node.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.node))

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.node
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.node = node.parent

    def handle_data(self, data: str) -> None:
        self.node.text += data


def parse(dom: str) -> Element:
    builder = _Builder()
    builder.feed(dom)
    return builder.root
