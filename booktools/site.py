"""`make site`: the book as a static website, made from `make book`'s executed notebooks.

Nothing is executed again. For every ready chapter, build/NN_slug.ipynb (what `make book` ran and
graded) becomes one page with its printed results, plots and tables; a contents page, the
navigation between chapters and a full-text search come with the generator: Sphinx with MyST-NB
and sphinx-book-theme, the engine and theme of Jupyter Book 1 (README, "The book as a website",
says why they are used directly).

* The pages show the student edition's code (booktools/release.py's stubs where the solution
  has its answers) above the reference run's outputs; ``--solutions`` shows the answers, for an
  instructor's private copy.
* Each chapter page links "Open in Colab" (the student notebook in book.toml's ``repository``;
  shown disabled while that is empty), "Download .ipynb" (the student notebook, copied into the
  site) and says how to check it (``python -m checks NN``).
* Outputs that only live in a running notebook (widgets such as progress bars and chapter 04's
  canvas, the TensorBoard frame) are replaced by a note saying so.
* A language LANG with a catalogue of a chapter (i18n/LANG/NN_slug.toml, booktools/l10n.py) gets
  that chapter under LANG/: the executed English notebook with its markdown translated (code
  cells and outputs are the same). A catalogue that is incomplete or stale leaves the chapter
  out of LANG with a printed note. Every page has a switch to the same page in the other
  languages (to their contents page where the chapter is not translated).

``python -m booktools.site [--build DIR] [--out DIR] [--solutions]``; the module is also the
small Sphinx extension that adds the language switch.
"""

from __future__ import annotations

import argparse
import copy
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from booktools.l10n import TranslationError, catalogue_path, languages, load_catalogue, problems, translate
from tfbook.manifest import ROOT, Book, Chapter, load_book

BUILD = ROOT / "build"
SITE = BUILD / "site"
ENGLISH = "en"
MARKER = ".tfbook-site"  # marks a folder this module wrote (and may therefore replace)
DOWNLOADS = "downloads"
WIDGET = "application/vnd.jupyter.widget-view+json"
LIVE_HTML = re.compile(r"<script|<iframe", re.IGNORECASE)  # HTML that needs its kernel or server
GITHUB = re.compile(r"^https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?(?:/tree/([\w./-]+))?/?$")
COLAB = "https://colab.research.google.com/github/{owner}/{name}/blob/{branch}/{path}"

# The site's own words. A language of i18n/ without an entry here uses the English ones.
WORDS = {
    "en": {
        "name": "English",
        "colab": "Open in Colab",
        "colab_unset": "Set `repository` in book.toml to the book's GitHub address to enable this link",
        "colab_not_github": "Colab opens notebooks from GitHub: set `repository` in book.toml to "
        "https://github.com/OWNER/NAME",
        "colab_missing": "{path} is not in this checkout: run `make release`",
        "download": "Download .ipynb",
        "check": "Check it:",
        "reference": "The outputs are those of the reference run (`make book`{preset}).",
        "preset": ", preset {preset}",
        "answers_left_out": "The exercises' answers are left for you.",
        "live": "A live output (a widget or a frame) stands here when you run the notebook.",
        "chapters": "Chapters",
        "intro": (
            "Four TensorFlow 1.x blog posts from 2016-2017, ported to TensorFlow 2 as Jupyter "
            "chapters you read, run and solve. Each page below is a chapter as `make book` ran "
            "it, with its printed results, plots and tables. {answers} To work on a chapter, "
            "download its notebook or open it in Colab from its page, then grade it with "
            "`python -m checks NN`."
        ),
        "not_translated": "",
        "title_suffix": "",
    },
    "ko": {
        "name": "한국어",
        "colab": "Colab에서 열기",
        "colab_unset": "이 링크를 쓰려면 book.toml의 `repository`에 이 책의 GitHub 주소를 적으세요",
        "colab_not_github": "Colab은 GitHub에 있는 노트북을 엽니다. book.toml의 `repository`에 "
        "https://github.com/OWNER/NAME 형식의 주소를 적으세요",
        "colab_missing": "{path}이(가) 아직 없습니다. `make release`를 실행하세요",
        "download": ".ipynb 내려받기",
        "check": "채점하기:",
        "reference": "출력은 기준 실행(`make book`{preset})의 결과입니다.",
        "preset": ", 프리셋 {preset}",
        "answers_left_out": "연습 문제의 답은 여러분이 채울 수 있도록 비워 두었습니다.",
        "live": "노트북을 실행하면 이 자리에 실시간 출력(위젯이나 프레임)이 나타납니다.",
        "chapters": "장",
        "intro": (
            "2016-2017년의 텐서플로 1.x 블로그 글 네 편을 텐서플로 2로 옮겨, 읽고 실행하고 풀어 보는 "
            "주피터 장으로 만들었습니다. 아래의 각 페이지는 `make book`이 실행한 그대로의 장이며, "
            "출력된 결과와 그래프, 표를 함께 보여 줍니다. {answers} 장을 직접 풀려면 그 페이지에서 "
            "노트북을 내려받거나 Colab에서 연 다음, `python -m checks NN`으로 채점하세요."
        ),
        "not_translated": "아직 번역되지 않은 장(영어):",
        "title_suffix": " (한국어판)",
    },
}


class SiteError(RuntimeError):
    """The site cannot be built (no executed notebooks, a folder it must not replace, Sphinx failed)."""


@dataclass
class Page:
    chapter: Chapter
    docname: str  # NN_slug: the page is docname.html
    notebook: nbformat.NotebookNode
    download: nbformat.NotebookNode
    title: str = ""
    preset: str = ""  # the preset `make book` ran it with (build/chNN-grade.json)


@dataclass
class Edition:
    language: str
    pages: list[Page] = field(default_factory=list)


@dataclass
class SiteReport:
    out: Path
    editions: list[Edition]  # English first
    notes: list[str]  # one line per chapter left out of a language, and why
    warnings: list[str]  # Sphinx's
    seconds: float


def words(language: str) -> dict[str, str]:
    return {**WORDS[ENGLISH], **WORDS.get(language, {})}


def executed_notebooks(book: Book, build: Path) -> dict[str, Path]:
    """chapter id -> build/NN_slug.ipynb, for the ready chapters `make book` has executed."""
    found = {}
    for chapter in book.ready_chapters():
        path = build / chapter.notebook("solution").name
        if path.exists():
            found[chapter.id] = path
    return found


# --- the notebooks of the site ---------------------------------------------------------------


def static_outputs(nb: nbformat.NotebookNode, language: str) -> nbformat.NotebookNode:
    """Outputs that need a live kernel or server (widgets, scripts, frames) replaced by a note;
    the notebook's saved widget state dropped (it would load widget code from a CDN)."""
    note = nbformat.v4.new_output(
        "display_data",
        data={
            "text/html": f'<p class="tfbook-live">{html.escape(words(language)["live"])}</p>',
            "text/plain": words(language)["live"],
        },
    )
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept, noted = [], False
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET in data or LIVE_HTML.search(str(data.get("text/html", ""))):
                if not noted:
                    kept.append(copy.deepcopy(note))
                    noted = True
                continue
            kept.append(output)
        cell.outputs = kept
    nb.metadata.pop("widgets", None)
    return nb


def _title(nb: nbformat.NotebookNode, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def colab(book: Book, student_path: str, language: str) -> tuple[str | None, str]:
    """(Colab's address of the student notebook, "") or (None, why the link is disabled)."""
    w = words(language)
    repository = book.repository.strip()
    if not repository:
        return None, w["colab_unset"]
    match = GITHUB.match(repository)
    if not match:
        return None, w["colab_not_github"]
    if not (book.root / student_path).exists():
        return None, w["colab_missing"].format(path=student_path)
    owner, name, branch = match.groups()
    return COLAB.format(owner=owner, name=name, branch=branch or "main", path=student_path), ""


def links_html(book: Book, chapter: Chapter, docname: str, language: str, preset: str, solutions: bool) -> str:
    """The chapter's links, as one HTML block (no blank line inside: a markdown HTML block ends there)."""
    w = words(language)
    student = chapter.notebook("student").relative_to(book.root)
    if language != ENGLISH:
        student = student.parent / language / student.name
        check = f"python -m checks {chapter.id} {student.as_posix()}"
    else:
        check = f"python -m checks {chapter.id}"
    url, why = colab(book, student.as_posix(), language)
    label = html.escape(w["colab"])
    if url:
        colab_link = f'<a class="tfbook-colab" href="{html.escape(url)}" target="_blank" rel="noopener">{label}</a>'
    else:
        colab_link = (
            f'<span class="tfbook-colab tfbook-disabled" role="link" aria-disabled="true" '
            f'title="{html.escape(why.replace("`", ""))}">{label}</span>'
        )
    note = w["reference"].format(preset=w["preset"].format(preset=preset) if preset else "")
    note += "" if solutions else " " + w["answers_left_out"]
    note = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(note))
    return (
        f'<div class="tfbook-links">{colab_link} '
        f'<a class="tfbook-download" href="{DOWNLOADS}/{docname}.ipynb" download>{html.escape(w["download"])}</a> '
        f'<span class="tfbook-check">{html.escape(w["check"])} <code>{html.escape(check)}</code></span>'
        f'<p class="tfbook-reference">{note}</p></div>'
    )


def with_links(nb: nbformat.NotebookNode, block: str) -> nbformat.NotebookNode:
    """``block`` right under the notebook's title (the first markdown line starting with "# ")."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.split("\n")
        for i, line in enumerate(lines):
            if line.startswith("# "):
                cell.source = "\n".join(lines[: i + 1] + ["", block, ""] + lines[i + 1 :])
                return nb
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(block))
    return nb


def _preset(executed: Path, chapter: Chapter) -> str:
    grade = executed.parent / f"ch{chapter.id}-grade.json"
    try:
        return str(json.loads(grade.read_text()).get("preset") or "")
    except (OSError, ValueError):
        return ""


def english_page(book: Book, chapter: Chapter, executed: Path, solutions: bool) -> Page:
    from booktools.release import student_notebook

    nb = nbformat.read(executed, as_version=4)
    where = str(chapter.solution.relative_to(book.root)) if chapter.solution else executed.name
    if not solutions:
        nb = student_notebook(nb, where)
    docname = executed.stem
    download = nbformat.read(chapter.notebook("student"), as_version=4)
    return Page(
        chapter, docname, static_outputs(nb, ENGLISH), download, _title(nb, chapter.title), _preset(executed, chapter)
    )


def translated_page(book: Book, english: Page, language: str) -> Page:
    """``english`` in ``language``; raises TranslationError (naming the cells) when the chapter's
    catalogue cannot translate it, or FileNotFoundError when there is no catalogue."""
    chapter = english.chapter
    path = catalogue_path(book.root, language, chapter.solution or chapter.student)
    if not path.exists():
        raise FileNotFoundError(path)
    catalogue = load_catalogue(path)
    where, catalogue_where = english.docname + ".ipynb", str(path.relative_to(book.root))
    found = problems(english.notebook, catalogue, where, catalogue_where)
    if found:
        raise TranslationError("\n".join(found))
    nb = translate(english.notebook, catalogue, language, where)
    student = chapter.notebook("student")
    download = translate(english.download, catalogue, language, str(student.relative_to(book.root)))
    return Page(chapter, english.docname, nb, download, _title(nb, chapter.title), english.preset)


def editions(book: Book, executed: dict[str, Path], solutions: bool) -> tuple[list[Edition], list[str]]:
    """Every language's pages (English first, then each language that translates a chapter), and
    a note for each chapter left out of a language."""
    english, notes = Edition(ENGLISH), []
    for chapter in book.ready_chapters():
        if chapter.id in executed:
            english.pages.append(english_page(book, chapter, executed[chapter.id], solutions))
        else:
            notes.append(
                f"chapter {chapter.id} left out: no build/{chapter.notebook('solution').name} "
                "(`make book` did not run it)"
            )
    out = [english]
    for language in languages(book.root):
        if language == ENGLISH:
            continue
        edition = Edition(language)
        for page in english.pages:
            try:
                edition.pages.append(translated_page(book, page, language))
            except FileNotFoundError:
                continue  # not translated into this language (yet): nothing to say
            except TranslationError as e:
                lines = str(e).splitlines()
                more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
                chapter = page.chapter
                catalogue = catalogue_path(book.root, language, chapter.solution or chapter.student)
                notes.append(
                    f"{language}: chapter {chapter.id} left out: {catalogue.relative_to(book.root)} does not "
                    f"translate build/{page.docname}.ipynb (`make book` again after a change to the chapter; "
                    f"`python -m booktools.l10n {language} {chapter.id}` lists what to translate): "
                    f"{lines[0]}{more}"
                )
        if edition.pages:
            out.append(edition)
    for edition in out:
        for page in edition.pages:
            block = links_html(book, page.chapter, page.docname, edition.language, page.preset, solutions)
            page.notebook = with_links(page.notebook, block)
    return out, notes


# --- the Sphinx projects ---------------------------------------------------------------------

CSS = """
.tfbook-links { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center;
  margin: .5rem 0 1.5rem; padding: .6rem .8rem; border: 1px solid var(--pst-color-border);
  border-radius: .4rem; background: var(--pst-color-surface); }
.tfbook-links a, .tfbook-links .tfbook-disabled { font-weight: 600; }
.tfbook-links .tfbook-disabled { color: var(--pst-color-text-muted); cursor: not-allowed;
  text-decoration: line-through dotted; }
.tfbook-links .tfbook-reference { flex-basis: 100%; margin: 0; font-size: .9em;
  color: var(--pst-color-text-muted); }
.tfbook-live { font-style: italic; color: var(--pst-color-text-muted); }
.tfbook-language { font-weight: 600; }
.header-article-items__end { display: flex; align-items: center; gap: .25rem; }
"""

# A browser asks for an icon; without one each first visit logs a 404.
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" '
    'fill="#ff6f00"/><text x="16" y="22" font-size="14" font-family="sans-serif" font-weight="bold" '
    'text-anchor="middle" fill="#fff">TF</text></svg>\n'
)

# The language switch, in the theme's article header (beside its own buttons).
SWITCH_TEMPLATE = """{%- for other in tfbook_switch %}
<a class="btn btn-sm tfbook-language" href="{{ other.href }}" hreflang="{{ other.lang }}"
   lang="{{ other.lang }}" title="{{ other.label }}">{{ other.label }}</a>
{%- endfor %}
"""


def setup(app):
    """The Sphinx extension: conf.py's ``tfbook_switch``, one {"lang", "label", "prefix", "pages"}
    per other language, gives every page a link to the same page in each of them (to their
    contents page where they lack it)."""
    app.add_config_value("tfbook_switch", [], "html")
    app.connect("html-page-context", _page_context)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def _page_context(app, pagename, templatename, context, doctree):
    context["tfbook_switch"] = [
        {
            "lang": other["lang"],
            "label": other["label"],
            "href": other["prefix"] + (pagename if pagename in other["pages"] else "index") + ".html",
        }
        for other in app.config.tfbook_switch
    ]


def _conf(book: Book, language: str, switch: list[dict]) -> str:
    w = words(language)
    settings = {
        "project": book.title,
        "html_title": book.title + w["title_suffix"],
        "language": language,
        "extensions": ["myst_nb", "booktools.site"],
        "exclude_patterns": ["_build", "**.ipynb_checkpoints"],
        "templates_path": ["_templates"],
        "html_static_path": ["_static"],
        "html_extra_path": ["_extra"],
        "html_css_files": ["tfbook.css"],
        "html_theme": "sphinx_book_theme",
        "html_theme_options": {
            "home_page_in_toc": True,
            "show_navbar_depth": 1,
            "show_toc_level": 2,
            "use_download_button": False,  # it would offer the page's source; the links offer the student notebook
            "use_fullscreen_button": False,
            "article_header_end": ["tfbook-language.html", "article-header-buttons.html"],
            "footer_content_items": [],  # the theme's "By <author>": the book names none
        },
        "html_context": {"default_mode": "light"},  # else the theme logs an error on a first visit
        "html_favicon": "_static/favicon.svg",
        "html_copy_source": False,
        "html_show_sourcelink": False,
        "html_last_updated_fmt": None,
        "nb_execution_mode": "off",  # make book executed them
        "nb_merge_streams": True,
        "myst_heading_anchors": 3,
        "tfbook_switch": switch,
    }
    return "# Written by booktools/site.py for one language of the site; `make site` rewrites it.\n" + "".join(
        f"{key} = {value!r}\n" for key, value in settings.items()
    )


def _index(book: Book, edition: Edition, english: Edition, solutions: bool) -> str:
    w = words(edition.language)
    answers = "" if solutions else w["answers_left_out"]
    entries = "\n".join(f"{p.chapter.id} {p.title} <{p.docname}>" for p in edition.pages)
    text = [
        f"# {book.title}{w['title_suffix']}",
        "",
        w["intro"].format(answers=answers).replace("  ", " "),
        "",
        "```{toctree}",
        ":maxdepth: 1",
        f":caption: {w['chapters']}",
        "",
        entries,
        "```",
        "",
    ]
    missing = [p for p in english.pages if p.docname not in {q.docname for q in edition.pages}]
    if edition.language != ENGLISH and missing:
        items = "".join(
            f'<li><a href="../{p.docname}.html" hreflang="en">{html.escape(p.chapter.id + " " + p.title)}</a></li>'
            for p in missing
        )
        text += [
            f'<p class="tfbook-untranslated">{html.escape(w["not_translated"])}</p>',
            f'<ul class="tfbook-untranslated">{items}</ul>',
            "",
        ]
    return "\n".join(text)


def _prefix(here: str, there: str) -> str:
    """From a page of language ``here`` to the folder of language ``there`` (English is the root)."""
    up = "" if here == ENGLISH else "../"
    return up if there == ENGLISH else f"{up}{there}/"


def _project(
    folder: Path, book: Book, edition: Edition, english: Edition, others: list[Edition], solutions: bool
) -> None:
    for sub in ("_templates", "_static", f"_extra/{DOWNLOADS}"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    switch = [
        {
            "lang": other.language,
            "label": words(other.language)["name"],
            "prefix": _prefix(edition.language, other.language),
            "pages": ["index", "search", "genindex"] + [p.docname for p in other.pages],
        }
        for other in others
    ]
    (folder / "conf.py").write_text(_conf(book, edition.language, switch), encoding="utf-8")
    (folder / "index.md").write_text(_index(book, edition, english, solutions), encoding="utf-8")
    (folder / "_templates" / "tfbook-language.html").write_text(SWITCH_TEMPLATE, encoding="utf-8")
    (folder / "_static" / "tfbook.css").write_text(CSS, encoding="utf-8")
    (folder / "_static" / "favicon.svg").write_text(FAVICON, encoding="utf-8")
    for page in edition.pages:
        nbformat.write(page.notebook, folder / f"{page.docname}.ipynb")
        nbformat.write(page.download, folder / "_extra" / DOWNLOADS / f"{page.docname}.ipynb")


def _sphinx(source: Path, html_out: Path) -> subprocess.Popen:
    warnings = source.parent / "warnings.txt"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    cmd = [
        sys.executable,
        "-m",
        "sphinx",
        "-b",
        "html",
        "-q",
        "-E",
        "-w",
        str(warnings),
        "-d",
        str(source.parent / "doctrees"),
        str(source),
        str(html_out),
    ]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _replaceable(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not (out / MARKER).exists():
        raise SiteError(f"{out} exists and was not written by `make site`: move it away or pass --out")


def _replace(out: Path, built: Path) -> None:
    _replaceable(out)
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(built), str(out))


def build_site(
    build: Path = BUILD, out: Path = SITE, *, book: Book | None = None, solutions: bool = False, log=print
) -> SiteReport:
    """Write the site into ``out`` from the executed notebooks in ``build``; return what it made."""
    started = time.monotonic()
    book = book or load_book()
    executed = executed_notebooks(book, build)
    if not executed:
        raise SiteError(
            f"no executed notebooks in {build}/ (NN_slug.ipynb, one per chapter): "
            "run `make book` first, then `make site`"
        )
    out = out.resolve()
    _replaceable(out)
    all_editions, notes = editions(book, executed, solutions)
    english = all_editions[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".site-", dir=out.parent) as staging:
        staging = Path(staging)
        jobs = []
        for edition in all_editions:
            folder = staging / edition.language
            others = [e for e in all_editions if e is not edition]
            _project(folder / "source", book, edition, english, others, solutions)
            jobs.append((edition, folder, _sphinx(folder / "source", folder / "html")))
        warnings, failed = [], []
        for edition, folder, proc in jobs:  # the languages build side by side
            output, _ = proc.communicate()
            if (folder / "warnings.txt").exists():
                warnings += [line for line in (folder / "warnings.txt").read_text().splitlines() if line.strip()]
            if proc.returncode != 0:
                failed.append(f"Sphinx failed on the {edition.language} edition:\n{output}")
        if failed:
            raise SiteError("\n".join(failed))
        site = staging / ENGLISH / "html"
        for html_dir in [site] + [staging / e.language / "html" for e in all_editions[1:]]:
            shutil.rmtree(html_dir / "_sources", ignore_errors=True)  # empty: html_copy_source is off
        for edition in all_editions[1:]:
            shutil.move(str(staging / edition.language / "html"), str(site / edition.language))
        (site / MARKER).write_text("written by `make site` (booktools/site.py); replaced by the next one\n")
        (site / ".nojekyll").write_text("")  # GitHub Pages: serve _static/ and _images/ as they are
        _replace(out, site)
    for line in notes:
        log(f"note: {line}")
    return SiteReport(out, all_editions, notes, warnings, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m booktools.site", description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, default=BUILD, help="where `make book` wrote the executed notebooks")
    parser.add_argument("--out", type=Path, default=SITE, help="the site's folder (default: build/site)")
    parser.add_argument(
        "--solutions",
        action="store_true",
        help="show the exercises' answers (an instructor's private copy; never publish it)",
    )
    args = parser.parse_args(argv)
    try:
        report = build_site(args.build, args.out, solutions=args.solutions)
    except SiteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for line in report.warnings:
        print(f"sphinx: {line}")
    try:
        where = report.out.relative_to(Path.cwd())
    except ValueError:
        where = report.out
    summary = "; ".join(
        f"{words(e.language)['name']}: chapters {', '.join(p.chapter.id for p in e.pages)}" for e in report.editions
    )
    print(f"Wrote the site to {where}/ in {report.seconds:.0f} s ({summary}).")
    print(f"Preview it:  python -m http.server -d {where}   then open http://localhost:8000/")
    print('Publish it: copy the folder to any static host (README, "The book as a website").')
    return 0


if __name__ == "__main__":
    sys.exit(main())
