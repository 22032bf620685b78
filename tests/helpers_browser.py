"""A headless Chromium driven over the DevTools protocol on a pipe, with no package beyond the
standard library: open a page, run JavaScript in it (clicks included), collect what its console
reported, take a screenshot.

Chromium started with ``--remote-debugging-pipe`` reads protocol messages (JSON, each ended by a NUL
byte) on file descriptor 3 and writes its answers and events on descriptor 4.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """The first Chromium-family browser on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


#: run in a child Python: fds argv[1] and argv[2] become 3 and 4, then argv[3:] replaces the process
_TRAMPOLINE = ("import os, sys; r, w = int(sys.argv[1]), int(sys.argv[2]); os.dup2(r, 3); os.dup2(w, 4); "
               "os.close(r); os.close(w); os.execvp(sys.argv[3], sys.argv[3:])")


class BrowserError(RuntimeError):
    pass


class Chromium:
    """One headless browser with one page. Use as a context manager.

    ``problems`` collects every console message of level error, every uncaught exception and every
    log entry of level error (failed loads included) of the page, as one line each."""

    def __init__(self, browser: str, profile: Path, width: int = 1300, height: int = 1800) -> None:
        to_chrome_r, self._to_chrome = os.pipe()  # we write, Chromium reads on fd 3
        self._from_chrome, from_chrome_w = os.pipe()  # Chromium writes on fd 4, we read
        # the child's ends, moved to 10 or above (so that neither is 3 or 4), become fds 3 and 4 of the
        # browser: a Python trampoline dup2s them there and execs it (a POSIX shell's redirections take
        # single-digit fds only: dash says "Bad fd number" for 3<&10)
        r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD_CLOEXEC, 10)
        w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio",
               "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-dev-shm-usage",
               "--remote-debugging-pipe", f"--user-data-dir={profile}", f"--window-size={width},{height}",
               "about:blank"]
        self.proc = subprocess.Popen([sys.executable, "-c", _TRAMPOLINE, str(r), str(w), *cmd],
                                     pass_fds=(r, w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(r)
        os.close(w)
        self._next_id = 0
        self._answers: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.size = (width, height)
        self.session = ""
        self.problems: list[str] = []

    # ------------------------------------------------------------------ protocol
    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chrome, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._cond.notify_all()
                return
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self._cond:
                    if "id" in msg:
                        self._answers[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                        self._note(msg)
                    self._cond.notify_all()

    def _note(self, msg: dict[str, Any]) -> None:
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.problems.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.problems.append("console.error: " + " ".join(str(a.get("value", a.get("description")))
                                                             for a in p.get("args", [])))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.problems.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}".strip())

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True,
             timeout: float = 60.0) -> dict[str, Any]:
        """One protocol command; returns its result (raises ``BrowserError`` on an error answer)."""
        with self._cond:
            self._next_id += 1
            mid = self._next_id
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while mid not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise BrowserError(f"{method}: no answer from the browser "
                                       f"({'exited' if self.proc.poll() is not None else 'timed out'})")
                self._cond.wait(min(left, 0.5))
            answer = self._answers.pop(mid)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def wait_event(self, method: str, timeout: float = 60.0, after: int = 0) -> dict[str, Any]:
        """The first event named ``method`` among the events from index ``after`` on."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events[after:]:
                    if ev.get("method") == method:
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BrowserError(f"no {method} event in {timeout:.0f} s")
                self._cond.wait(min(left, 0.5))

    # ------------------------------------------------------------------ page
    def __enter__(self) -> "Chromium":
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        w, h = self.size
        self.send("Emulation.setDeviceMetricsOverride", {"width": w, "height": h, "deviceScaleFactor": 1,
                                                        "mobile": False})
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.send("Browser.close", session=False, timeout=10)
        except BrowserError:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass

    def open(self, path: Path, timeout: float = 60.0) -> None:
        """Load the file ``path`` and wait for its load event."""
        n = len(self.events)
        self.send("Page.navigate", {"url": Path(path).resolve().as_uri()})
        self.wait_event("Page.loadEventFired", timeout, after=n)

    def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True})
        if "exceptionDetails" in res:
            d = res["exceptionDetails"]
            raise BrowserError(f"{expression[:80]}...: {d.get('exception', {}).get('description') or d.get('text')}")
        return res.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll ``expression`` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"still false after {timeout:.0f} s: {expression}")
            time.sleep(0.1)

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (beyond the window), written to ``path``."""
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})["data"]
        path.write_bytes(base64.b64decode(data))
        return path


#: JavaScript: every <img> of the page with its natural width, and whether it finished loading
IMAGES_JS = ("Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, "
             "w: i.naturalWidth, section: (i.closest('section') || {}).id || ''}))")
