"""audit.html and report.html in a real browser: headless Chromium, driven over the DevTools
protocol (tests/helpers_browser.py), loads each page and runs its script; the test clicks every
link of the page's navigation bar (its tabs) and every pager (next, last, first) and the table's
filter, and checks after each step that every image on the page loaded (``naturalWidth > 0``), that
no section is empty and that the console showed no error; a screenshot of each page is saved in the
test's folder (``tmp_path``).

Skipped (with a message) where no Chromium is installed; ``TRAINPRINT_BROWSER_TEST=1`` (set by
.ci/run, which installs Debian's ``chromium``) makes a missing Chromium a failure instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from helpers_browser import BROWSERS, IMAGES_JS, Chromium, find_browser
from helpers_eval import make_images, write_task
from trainprint.audit.config import AuditConfig
from trainprint.audit.pipeline import audit
from trainprint.core.files import read_csv
from trainprint.report.audit_page import PAGE_ROWS, STRIP_SLICES, TABLE_ROWS, build_audit_page
from trainprint.report.build import build_report


def _browser() -> str:
    path = find_browser()
    if path:
        return path
    if os.environ.get("TRAINPRINT_BROWSER_TEST") == "1":
        pytest.fail(f"TRAINPRINT_BROWSER_TEST=1 but none of {', '.join(BROWSERS)} is on PATH")
    pytest.skip(f"no headless browser ({', '.join(BROWSERS)}) on PATH; apt-get install -y chromium to run this test")


#: JavaScript: each <section>'s id, the number of words of its text without its heading, and its images
SECTIONS_JS = ("Array.from(document.querySelectorAll('section')).map(s => ({id: s.id, words: "
               "s.innerText.replace(s.querySelector('h2') ? s.querySelector('h2').innerText : '', '')"
               ".trim().split(/\\s+/).filter(Boolean).length, images: s.querySelectorAll('img').length}))")


def _sections(page: Chromium, where: str) -> dict[str, dict[str, int]]:
    """The page's sections by id; each must show something below its heading: more than five words,
    or a figure (the report's fingerprint map is one figure)."""
    sections = {s["id"]: s for s in page.eval(SECTIONS_JS)}
    empty = {k: v for k, v in sections.items() if v["words"] <= 5 and v["images"] == 0}
    assert not empty, f"{where}: sections empty in the browser: {empty}"
    return sections


def _all_images_loaded(page: Chromium, where: str) -> list[dict[str, Any]]:
    images = page.eval(IMAGES_JS)
    bad = [i for i in images if not (i["complete"] and i["w"] > 0)]
    assert not bad, f"{where}: {len(bad)} of {len(images)} images did not load: {bad[:3]}"
    return images


def _click_tabs(page: Chromium, where: str) -> list[str]:
    """Click every link of the <nav> bar; each must name a section that exists and is scrolled to."""
    links = page.eval("Array.from(document.querySelectorAll('nav a')).map(a => a.getAttribute('href'))")
    assert links, f"{where}: no navigation links"
    for href in links:
        page.eval(f"document.querySelector('nav a[href=\"{href}\"]').click()")
        assert page.eval("location.hash") == href, f"{where}: clicking {href} did not go there"
        top = page.eval(f"document.querySelector('{href}').getBoundingClientRect().top")
        at_end = page.eval("window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 2")
        assert abs(top) < 2 or at_end, f"{where}: {href} is {top} px from the top after its link was clicked"
    return links


def _pages(page: Chromium, pager: str) -> str:
    return page.eval(f"(document.querySelector('#{pager} span') || {{textContent: ''}}).textContent.trim()")


def _click(page: Chromium, pager: str, label: str) -> None:
    page.eval(f"Array.from(document.querySelectorAll('#{pager} button')).find(b => b.textContent.startsWith("
              f"'{label}')).click()")
    page.wait_for("document.body.dataset.ready === '1'")


def _page_through(page: Chromium, pager: str, box: str, rows: int, per: int, row_sel: str, where: str) -> int:
    """Next, last and first on one pager; each page holds the rows it should and its images load.
    Returns the number of pages."""
    pages = -(-rows // per)
    first = page.eval(f"document.querySelector('#{box}').innerText")
    if pages < 2:
        assert _pages(page, pager) == "", f"{where}: a pager for one page"
        return pages
    assert _pages(page, pager).startswith(f"page 1 of {pages} ({rows} rows)"), _pages(page, pager)
    _click(page, pager, "next")
    assert _pages(page, pager).startswith(f"page 2 of {pages}"), _pages(page, pager)
    assert page.eval(f"document.querySelector('#{box}').innerText") != first, f"{where}: page 2 shows page 1's rows"
    assert page.eval(f"document.querySelectorAll('#{box} {row_sel}').length") == min(per, rows - per)
    _all_images_loaded(page, f"{where}, page 2")
    _click(page, pager, "last")
    assert _pages(page, pager).startswith(f"page {pages} of {pages}")
    assert page.eval(f"document.querySelectorAll('#{box} {row_sel}').length") == rows - (pages - 1) * per
    _all_images_loaded(page, f"{where}, last page")
    _click(page, pager, "« first")
    assert page.eval(f"document.querySelector('#{box}').innerText") == first, f"{where}: first page changed"
    return pages


def test_audit_page_loads_every_image_in_headless_chromium(tmp_path: Path) -> None:
    browser = _browser()
    # 80 real images (more than a page of patient strips, gallery rows and table rows), half of them
    # with noisy copies among the generated images
    test, _ = make_images(40, 40, 80, seed=21, source="t", unknown=True)
    write_task(tmp_path / "test", test)
    ref, _ = make_images(2, 80, 2, seed=22, source="ref")
    write_task(tmp_path / "ref", ref.take(np.flatnonzero(ref.split == "real_not_used")))
    run = tmp_path / "run"
    summary = audit(AuditConfig(generated_dir=str(tmp_path / "test" / "generated"),
                                real_dir=str(tmp_path / "test" / "real_unknown"),
                                reference_dir=str(tmp_path / "ref" / "real_not_used"), method="sim-pixel/realmax"),
                    run, cache_dir=False)
    assert summary.called["used"] > 0  # so the gallery of used images is drawn
    page_file = build_audit_page(run)
    patients, rows = read_csv(run / "patients.csv"), read_csv(run / "audit.csv")
    used, borderline = summary.called["used"], summary.called["borderline"]

    with Chromium(browser, tmp_path / "profile") as page:
        page.open(page_file)
        page.wait_for("document.body.dataset.ready === '1'")
        assert page.eval("document.body.dataset.imagesBroken") == "0"
        images = _all_images_loaded(page, "audit.html")
        # the patient strips (first page): each slice shown with its nearest generated image
        strips = page.eval("Array.from(document.querySelectorAll('#g-patients .strip')).map(s => "
                           "s.querySelectorAll('img').length)")
        shown = [min(int(p["slices"]), STRIP_SLICES) for p in patients[:PAGE_ROWS]]
        assert strips == [2 * k for k in shown], "each strip: every shown slice and its nearest generated image"
        # per gallery row: the real image, 5 neighbours, the difference map; plus the score figure
        assert sum(strips) > 0
        expected = sum(strips) + 7 * (min(used, PAGE_ROWS) + min(borderline, PAGE_ROWS)) + 1
        assert len(images) == expected
        assert page.eval("document.body.dataset.imagesLoaded") == str(expected)  # the page's own count
        assert sum(i["section"] == "used" for i in images) == 7 * min(used, PAGE_ROWS)
        sections = _sections(page, "audit.html")
        assert set(sections) == {"patients", "verdict", "used", "borderline", "all", "method", "run"}
        assert page.eval("document.querySelectorAll('#t-body tr').length") == min(TABLE_ROWS, len(rows))

        assert _click_tabs(page, "audit.html")
        n_pages = {
            "patients": _page_through(page, "p-patients", "g-patients", len(patients), PAGE_ROWS, ".strip",
                                      "patient strips"),
            "used": _page_through(page, "p-used", "g-used", min(used, 200), PAGE_ROWS, ".grow", "used gallery"),
            "table": _page_through(page, "p-table", "t-body", len(rows), TABLE_ROWS, "tr", "table"),
        }
        assert n_pages["patients"] >= 2 and n_pages["table"] >= 2, n_pages  # the data were sized for paging
        # the table's filter: one id typed in leaves its row alone
        one = rows[-1]["id"]
        page.eval(f"(() => {{ const f = document.getElementById('t-filter'); f.value = '{one}'; "
                  "f.dispatchEvent(new Event('input')); })()")
        assert page.eval("Array.from(document.querySelectorAll('#t-body tr')).map(r => r.cells[1].textContent)") \
            == [one]
        assert page.problems == [], page.problems
        shot = page.screenshot(tmp_path / "audit.png")
    assert shot.stat().st_size > 10_000


def test_report_page_loads_every_image_in_headless_chromium(tmp_path: Path) -> None:
    browser = _browser()
    from test_report import make_eval_run

    run = make_eval_run(tmp_path)
    page_file = build_report(run)
    with Chromium(browser, tmp_path / "profile") as page:
        page.open(page_file)
        images = _all_images_loaded(page, "report.html")
        assert len(images) >= 4  # ROC, score histograms, map, training curves, gallery
        sections = _sections(page, "report.html")
        links = _click_tabs(page, "report.html")
        assert sorted(h.lstrip("#") for h in links) == sorted(sections)
        assert page.problems == [], page.problems
        shot = page.screenshot(tmp_path / "report.png")
    assert shot.stat().st_size > 10_000
