"""audit.html in a real browser: headless Chromium loads the page, runs its script, and the DOM it
leaves says every image loaded, none broke, and no section is empty; a screenshot is saved.

Skipped (with a message) where no Chromium is installed; ``TRAINPRINT_BROWSER_TEST=1`` makes a
missing Chromium a failure instead (``apt-get install -y chromium`` installs it on Debian).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from helpers_eval import make_images, write_task
from trainprint.audit.config import AuditConfig
from trainprint.audit.pipeline import audit
from trainprint.core.files import read_csv
from trainprint.report.audit_page import PAGE_ROWS, STRIP_SLICES, build_audit_page

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("TRAINPRINT_BROWSER_TEST") == "1":
        pytest.fail(f"TRAINPRINT_BROWSER_TEST=1 but none of {', '.join(BROWSERS)} is on PATH")
    pytest.skip(f"no headless browser ({', '.join(BROWSERS)}) on PATH; apt-get install -y chromium to run this test")


def _headless(browser: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--virtual-time-budget=15000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


class _Sections(HTMLParser):
    """Text of every <section id=...> (its heading left out), and the attributes of <body>."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.body: dict[str, str | None] = {}
        self._current: str | None = None
        self._in_h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "section":
            self._current = str(a.get("id"))
            self.text[self._current] = ""
        elif tag == "h2":
            self._in_h2 = True
        elif tag == "img" and self._current:
            self.text[self._current] += " [img] "

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._current = None
        elif tag == "h2":
            self._in_h2 = False

    def handle_data(self, data: str) -> None:
        if self._current and not self._in_h2:
            self.text[self._current] += data


def test_audit_page_loads_every_image_in_headless_chromium(tmp_path: Path) -> None:
    browser = _browser()
    test, _ = make_images(12, 12, 40, seed=21, source="t", unknown=True)
    write_task(tmp_path / "test", test)
    ref, _ = make_images(2, 80, 2, seed=22, source="ref")
    write_task(tmp_path / "ref", ref.take(np.flatnonzero(ref.split == "real_not_used")))
    run = tmp_path / "run"
    summary = audit(AuditConfig(generated_dir=str(tmp_path / "test" / "generated"),
                                real_dir=str(tmp_path / "test" / "real_unknown"),
                                reference_dir=str(tmp_path / "ref" / "real_not_used"), method="sim-pixel/realmax"),
                    run, cache_dir=False)
    assert summary.called["used"] > 0  # so the gallery of used images is drawn
    page = build_audit_page(run)

    dom = _headless(browser, "--dump-dom", page.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = _Sections()
    parsed.feed(dom.stdout)
    body = parsed.body
    assert body.get("data-ready") == "1", f"the page's script did not finish: {body}"
    assert body.get("data-images-broken") == "0"
    used, borderline = summary.called["used"], summary.called["borderline"]
    # per gallery row: the real image, 5 neighbours, the difference map; per patient strip on the first
    # page: each shown slice and its nearest generated image; plus the score figure
    patients = read_csv(run / "patients.csv")
    strips = sum(2 * min(int(p["slices"]), STRIP_SLICES) for p in patients[:PAGE_ROWS])
    assert strips > 0
    expected = 7 * (min(used, PAGE_ROWS) + min(borderline, PAGE_ROWS)) + strips + 1
    assert int(str(body.get("data-images-loaded"))) == expected
    assert set(parsed.text) == {"verdict", "patients", "used", "borderline", "all", "method", "run"}
    for sid, text in parsed.text.items():
        assert len(text.split()) > 5, f"section {sid} is empty in the browser"
    assert parsed.text["used"].count("[img]") == 7 * min(used, PAGE_ROWS)
    assert len(re.findall(r"<tr><td>", dom.stdout)) >= min(24, 50)  # the table's first page

    shot = tmp_path / "audit.png"
    res = _headless(browser, f"--screenshot={shot}", "--window-size=1300,1800", page.resolve().as_uri())
    assert res.returncode == 0 and shot.stat().st_size > 10_000, res.stderr[-2000:]
