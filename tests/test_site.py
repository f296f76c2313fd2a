"""`make site` (booktools/site.py): the book as a static website, read in a real browser.

The browser tests build the site once, in a temporary folder, from notebooks that need no
execution: the solution notebooks as they are stand in for `make book`'s executed ones, and
chapter 03's gets a plot (a PNG made with matplotlib), a table and a printed line, chapter 04's
a widget, chapter 01's TensorBoard's live frame, as `make book` leaves them. Debian's Chromium
(Playwright, no browser download) then reads it from a local `http.server`: every page, link,
image, the search box and the language switch. Screenshots of the contents page, of
chapter 03 at its plot and of the first Korean chapter go to build/test-artifacts/site-*.png.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import deque
from pathlib import Path
from urllib.parse import urldefrag, urljoin, urlparse

import nbformat
import pytest

from booktools import site
from helpers import ARTIFACTS, free_port, launch_chromium, require_chromium, stop
from tfbook.manifest import ROOT, load_book

SEARCH_TERM = "bfloat16"  # a word of chapter 03's text
UI_S = 30
CAPTION = "Loss of the test figure"  # the plot added to chapter 03
PRINTED = "step 1000: loss 0.05"  # printed by the cell that draws it


def in_browser(test):
    """Builds the site (Sphinx, about 10 s of CPU) and drives Chromium."""
    return pytest.mark.browser(pytest.mark.slow(test))


# --- without a browser ------------------------------------------------------------------------


def test_make_site_without_executed_notebooks_says_run_make_book(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "booktools.site", "--build", str(tmp_path), "--out", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2, done
    assert "make book" in done.stderr and str(tmp_path) in done.stderr, done.stderr
    assert not (tmp_path / "site").exists()


def test_make_site_replaces_only_a_folder_it_wrote(tmp_path):
    chapter = load_book().ready_chapters()[0]
    shutil.copy(chapter.notebook("solution"), tmp_path / chapter.notebook("solution").name)
    out = tmp_path / "public"
    out.mkdir()
    (out / "index.html").write_text("someone else's")
    with pytest.raises(site.SiteError, match="not written by `make site`"):
        site.build_site(tmp_path, out)
    assert (out / "index.html").read_text() == "someone else's"


def test_colab_link_needs_a_github_repository():
    book = load_book()
    student = "chapters/03_cnn_training.ipynb"
    at = lambda repository: dataclasses.replace(book, repository=repository)  # noqa: E731
    url, why = site.colab(at(""), student, "en")
    assert url is None and "repository" in why and "book.toml" in why
    url, why = site.colab(at("https://gitlab.com/a/b"), student, "en")
    assert url is None and "github.com" in why
    assert site.colab(at("https://github.com/someone/tfbook"), student, "en") == (
        "https://colab.research.google.com/github/someone/tfbook/blob/main/chapters/03_cnn_training.ipynb",
        "",
    )
    url, _ = site.colab(at("https://github.com/someone/tfbook.git/tree/dev"), student, "en")
    assert url.endswith("/someone/tfbook/blob/dev/chapters/03_cnn_training.ipynb")
    url, why = site.colab(at("https://github.com/someone/tfbook"), "chapters/ko/99_none.ipynb", "ko")
    assert url is None and "make release" in why


def test_live_outputs_become_a_note_and_the_rest_stays():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={site.WIDGET: {"model_id": "a"}, "text/plain": "0%|"}),
        nbformat.v4.new_output("display_data", data={site.WIDGET: {"model_id": "b"}, "text/plain": "0%|"}),
        nbformat.v4.new_output("stream", name="stdout", text="step 1\n"),
        nbformat.v4.new_output("display_data", data={"text/html": "<iframe src='/'></iframe><script></script>"}),
    ]
    nb.cells = [cell]
    nb.metadata["widgets"] = {"state": {}}
    out = site.static_outputs(nb, "en").cells[0].outputs
    assert [o.output_type for o in out] == ["display_data", "stream"]  # one note per cell
    assert out[0].data["text/plain"] == site.WORDS["en"]["live"] and out[1].text == "step 1\n"
    assert "widgets" not in nb.metadata


# --- the site in a browser --------------------------------------------------------------------


def _figure_png() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3), dpi=80)
    steps = list(range(0, 1001, 50))
    ax.plot(steps, [2.3 * 0.993**s + 0.05 for s in steps], label="training loss")
    ax.set_xlabel("step"), ax.set_ylabel("loss"), ax.set_title(CAPTION), ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _executed_notebooks(folder: Path) -> None:
    """The solution notebooks, with the kinds of outputs `make book` leaves, in build/'s names."""
    for chapter in load_book().ready_chapters():
        source = chapter.notebook("solution")
        nb = nbformat.read(source, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        if chapter.id == "03":
            plotting = next((c for c in code if "plt." in c.source), code[-1])
            plotting.outputs = [
                nbformat.v4.new_output("stream", name="stdout", text=PRINTED + "\n"),
                nbformat.v4.new_output("display_data", data={"image/png": _figure_png(), "text/plain": CAPTION}),
                nbformat.v4.new_output(
                    "execute_result",
                    execution_count=1,
                    data={
                        "text/html": "<table><tr><th>step</th><th>accuracy</th></tr><tr><td>1000</td><td>0.991</td></tr></table>",
                        "text/plain": "step accuracy",
                    },
                ),
            ]
        elif chapter.id == "04":
            code[-1].outputs = [
                nbformat.v4.new_output(
                    "display_data",
                    data={
                        site.WIDGET: {"model_id": "canvas", "version_major": 2, "version_minor": 0},
                        "text/plain": "Canvas()",
                    },
                )
            ]
        elif chapter.id == "01":
            code[-1].outputs = [
                nbformat.v4.new_output(
                    "display_data",
                    data={
                        "text/html": '<iframe id="tensorboard-frame-1"></iframe><script>fetch("http://localhost:6006/")</script>',
                        "text/plain": "<IPython.core.display.HTML object>",
                    },
                )
            ]
        nbformat.write(nb, folder / source.name)
    (folder / "ch03-grade.json").write_text(json.dumps({"chapter": "03", "preset": "smoke"}))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(the site's report, its base URL): built once, served by `python -m http.server`."""
    require_chromium()
    try:
        import myst_nb, sphinx, sphinx_book_theme  # noqa: F401, E401  `make site`'s generator
    except ImportError as e:
        missing = f"{e.name} is missing: pip install -c constraints.txt -e '.[site]' (make test does)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(missing)
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp("site")
    build = folder / "build"
    build.mkdir()
    _executed_notebooks(build)
    notes = []
    started = time.monotonic()
    report = site.build_site(build, build / "site", log=notes.append)
    print(f"site built in {time.monotonic() - started:.1f} s; notes: {notes}")
    assert report.warnings == [], "\n".join(report.warnings)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(report.out), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base, timeout=2).close()
            break
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, "http.server did not answer"
            time.sleep(0.2)
    try:
        yield report, base
    finally:
        stop(server)


@pytest.fixture(scope="module")
def browser(built):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = launch_chromium(pw)
        try:
            yield chromium
        finally:
            chromium.close()


class Watched:
    """A page that remembers its console errors, uncaught exceptions, failed or refused requests."""

    def __init__(self, browser, base: str):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.page.set_default_timeout(UI_S * 1000)
        self.base, self.problems = base, []
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"exception: {e}"))
        # ERR_ABORTED: a navigation cancelled what the page before it was still loading (a 404 is a response)
        self.page.on(
            "requestfailed",
            lambda r: "ERR_ABORTED" not in (r.failure or "") and self.problems.append(f"failed: {r.url} {r.failure}"),
        )
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status}: {r.url}"))
        self.page.on(
            "request",
            lambda r: (
                not r.url.startswith((base, "data:", "blob:")) and self.problems.append(f"outside the site: {r.url}")
            ),
        )

    def goto(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_load_state("networkidle")

    def check(self, where: str) -> None:
        assert self.problems == [], f"{where}: " + "\n".join(self.problems)


def _pages(report) -> dict[str, str]:
    """Every chapter page the report says it built: path below the site -> language."""
    return {
        (f"{e.language}/" if e.language != site.ENGLISH else "") + f"{p.docname}.html": e.language
        for e in report.editions
        for p in e.pages
    }


JS_LINKS = "() => [...document.querySelectorAll('a[href]')].map(a => a.href)"
JS_IDS = "() => [...document.querySelectorAll('[id]')].map(e => e.id)"
JS_BROKEN_IMAGES = """() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
                                                  .map(i => i.currentSrc || i.src)"""


@in_browser
def test_every_page_loads_with_its_images_and_no_broken_link(built, browser):
    report, base = built
    watched = Watched(browser, base)
    seen, ids, links = set(), {}, []
    queue = deque(
        [base + "index.html", base + "search.html"]  # the search page: reached by the form
        + [base + f"{e.language}/index.html" for e in report.editions[1:]]
    )
    while queue:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        if not urlparse(url).path.endswith(".html"):  # a download: served, and a notebook
            with urllib.request.urlopen(url, timeout=10) as response:
                nbformat.reads(response.read().decode(), as_version=4)
            continue
        watched.goto(url)
        watched.check(url)
        broken = watched.page.evaluate(JS_BROKEN_IMAGES)
        assert broken == [], f"{url}: images that did not load: {broken}"
        ids[url] = set(watched.page.evaluate(JS_IDS))
        for href in watched.page.evaluate(JS_LINKS):
            if href.startswith(base):
                links.append((url, href))
                queue.append(urldefrag(href)[0])
    for page, href in links:  # every internal link leads to a page that has its #fragment
        target, fragment = urldefrag(href)
        target = target if urlparse(target).path != "/" else base + "index.html"
        assert target in seen, f"{page}: link to {href}, never loaded"
        if fragment and target in ids:
            assert fragment in ids[target], f"{page}: link to {href}: no element with id {fragment!r}"
    visited = {u.removeprefix(base) for u in seen}
    missing = set(_pages(report)) - visited
    assert not missing, f"chapter pages no link leads to: {missing}"
    assert {"index.html", "search.html"} <= visited


@in_browser
def test_a_chapter_shows_its_plot_table_links_and_the_student_notebook(built, browser):
    report, base = built
    watched = Watched(browser, base)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    watched.goto(base + "index.html")
    watched.page.screenshot(path=str(ARTIFACTS / "site-contents.png"))
    english = report.editions[0]
    assert [p.chapter.id for p in english.pages] == [c.id for c in load_book().ready_chapters()]
    for page in english.pages:  # the contents page lists every chapter, in order
        assert watched.page.locator(f"article a[href='{page.docname}.html']").count() >= 1, page.docname
    watched.goto(base + "03_cnn_training.html")
    page = watched.page
    figure = page.locator(f".cell:has-text('{PRINTED}') img")
    assert figure.count() == 1 and page.evaluate("i => i.naturalWidth", figure.element_handle()) > 100
    assert page.locator("table:has-text('accuracy')").count() >= 1
    assert page.get_by_text(PRINTED).count() == 1
    links = page.locator(".tfbook-links")
    assert "python -m checks 03" in links.inner_text() and "preset smoke" in links.inner_text()
    colab = links.locator(".tfbook-colab")
    if not load_book().repository:
        assert colab.get_attribute("aria-disabled") == "true" and "book.toml" in colab.get_attribute("title")
    href = links.locator("a.tfbook-download").get_attribute("href")
    with urllib.request.urlopen(urljoin(page.url, href), timeout=10) as response:
        downloaded = response.read().decode()
    student = (ROOT / "chapters" / "03_cnn_training.ipynb").read_text()
    assert nbformat.reads(downloaded, as_version=4).cells == nbformat.reads(student, as_version=4).cells
    assert "### BEGIN SOLUTION" not in page.content()  # the student edition's code, not the answers
    figure.scroll_into_view_if_needed()
    page.evaluate("() => window.scrollBy(0, -200)")
    page.screenshot(path=str(ARTIFACTS / "site-chapter-03.png"))
    watched.goto(base + "01_tensorboard.html")  # TensorBoard's live frame is a note, not a dead frame
    assert watched.page.locator("iframe").count() == 0
    assert watched.page.locator(".tfbook-live").count() >= 1
    watched.check("chapter 03 and 01")


@in_browser
def test_the_search_box_finds_chapter_03(built, browser):
    _, base = built
    watched = Watched(browser, base)
    watched.goto(base + "index.html")
    page = watched.page
    page.locator("button.search-button-field:visible").first.click()
    box = page.locator("#pst-search-dialog input[name='q']")
    box.fill(SEARCH_TERM)
    box.press("Enter")
    page.wait_for_url("**/search.html?q=*")
    result = page.locator("#search-results a[href*='03_cnn_training.html']").first
    result.wait_for(state="visible")
    result.click()
    page.wait_for_url("**/03_cnn_training.html*")
    watched.check("search")


@in_browser
def test_the_language_switch_leads_to_the_same_chapter(built, browser):
    report, base = built
    assert len(report.editions) > 1, "no Korean edition: i18n/ko/ translates no chapter completely"
    korean = report.editions[1]
    assert korean.language == "ko" and korean.pages, korean
    watched = Watched(browser, base)
    page = watched.page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for chapter in korean.pages:
        watched.goto(base + f"{chapter.docname}.html")
        page.locator("a.tfbook-language:visible").click()
        page.wait_for_url(f"**/ko/{chapter.docname}.html")
        assert page.locator("html").get_attribute("lang") == "ko"
        assert page.locator("h1").first.inner_text().strip().startswith(chapter.title[:20])
        assert "chapters/ko/" in page.locator(".tfbook-links").inner_text()  # check the Korean notebook
        if chapter is korean.pages[0]:
            page.screenshot(path=str(ARTIFACTS / f"site-chapter-{chapter.chapter.id}-ko.png"))
        page.locator("a.tfbook-language:visible").click()
        page.wait_for_url(f"**/{chapter.docname}.html")
        assert "/ko/" not in page.url
    translated = {p.docname for p in korean.pages}
    for chapter in report.editions[0].pages:  # no Korean edition: the switch leads to its contents
        if chapter.docname not in translated:
            watched.goto(base + f"{chapter.docname}.html")
            page.locator("a.tfbook-language:visible").click()
            page.wait_for_url("**/ko/index.html")
            assert page.locator(f"a[href='../{chapter.docname}.html']").count() >= 1  # listed, in English
            break
    watched.check("language switch")
