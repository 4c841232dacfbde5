"""Drive a real headless Chromium with networking disabled, for tests of generated HTML.

Every run gets a fresh profile, resolves no host name, sends anything that
still tries the network to a dead proxy, and records a NetLog so a test can
prove that no request left the machine.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium executable, or None."""
    env = os.environ.get("CHROMIUM")
    if env and Path(env).is_file():
        return env
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else None


OFFLINE_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--metrics-recording-only", "--hide-scrollbars", "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
]


@dataclass
class Run:
    dom: str
    stderr: str
    screenshot: Path | None
    page_requests: list[str] = field(default_factory=list)  # every request the page started


def inject_script(html: str, js: str) -> str:
    """Insert ``js`` as the first script of ``html``, allowing it in the page's CSP by hash."""
    digest = "'sha256-" + base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode() + "'"
    html = re.sub(r"(script-src )", r"\1" + digest + " ", html, count=1)
    return html.replace("<head>", "<head>\n<script>" + js + "</script>", 1)


def _netlog_page_requests(path: Path) -> list[str]:
    """URLs of the requests the *page* started, from a NetLog file.

    Chromium's own background requests (updates, sign-in) carry the initiator
    "not an origin"; a page's requests carry its origin ("null" for file:).
    """
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        log = json.loads(text)
    except ValueError:  # a log cut short: close it
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    names = {v: k for k, v in log.get("constants", {}).get("logEventTypes", {}).items()}
    urls = set()
    for ev in log.get("events", []):
        params = ev.get("params") or {}
        if names.get(ev.get("type")) == "URL_REQUEST_START_JOB" and params.get("initiator") != "not an origin" \
                and params.get("url"):
            urls.add(params.get("url", ""))
    return sorted(urls)


def run_page(chromium: str, page: Path, *, screenshot: Path | None = None, budget_ms: int = 5000,
             window: tuple[int, int] = (1200, 800), timeout: float = 90) -> Run:
    """Open ``page`` in headless Chromium; return the DOM after ``budget_ms`` of virtual time."""
    with tempfile.TemporaryDirectory(prefix="cg-chromium-") as tmp:
        tmp = Path(tmp)
        netlog = tmp / "netlog.json"
        common = OFFLINE_FLAGS + [f"--user-data-dir={tmp / 'profile'}", f"--log-net-log={netlog}",
                                  "--net-log-capture-mode=Everything",
                                  f"--virtual-time-budget={budget_ms}", f"--window-size={window[0]},{window[1]}"]
        uri = page.resolve().as_uri()
        out = subprocess.run([chromium, *common, "--dump-dom", uri], capture_output=True, text=True,
                             timeout=timeout, env={**os.environ, "HOME": str(tmp)})
        urls = _netlog_page_requests(netlog)
        stderr = out.stderr
        if screenshot is not None:
            netlog.unlink(missing_ok=True)
            shot = subprocess.run([chromium, *common, f"--screenshot={screenshot}", uri], capture_output=True,
                                  text=True, timeout=timeout, env={**os.environ, "HOME": str(tmp)})
            stderr += shot.stderr
            urls = sorted(set(urls) | set(_netlog_page_requests(netlog)))
        return Run(out.stdout, stderr, screenshot if screenshot and screenshot.is_file() else None, urls)


def external(urls) -> list[str]:
    """The URLs among ``urls`` that would leave the machine (anything but file:, data:, blob:, about:)."""
    return [u for u in urls if not u.startswith(("file:", "data:", "blob:", "about:"))]
