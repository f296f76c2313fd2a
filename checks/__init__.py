"""Check modules (one per chapter: ch03.py, ...), the engine that runs them, and the grader.

In a notebook::

    from checks import checker
    check, check_all = checker("03", globals())
    check("reshape_input")        # after an exercise: immediate feedback

From a terminal (the grade that counts: a fresh kernel, scored outside it)::

    python -m checks 03 [NOTEBOOK]
"""

from __future__ import annotations


def checker(chapter_id: str, namespace: dict):
    """Inline feedback: ``check(exercise)`` and ``check_all()`` bound to the notebook's globals.

    These run inside the learner's own kernel, so they advise; ``python -m checks`` grades.
    In a notebook that the grader runs they do nothing: the grader scores each exercise from
    outside right after its ``check`` cell and writes its results under that cell, so no check
    runs twice (chapter 02's would start a second logging service).
    """
    import os

    from checks.engine import NamespaceLearner
    from checks.registry import load_chapter_checks
    from checks.report import format_chapter, format_results
    from tfbook.i18n import _, language, of_running_notebook
    from tfbook.manifest import GRADING_ENV, active_preset_name
    from tfbook.paths import runs_root

    if os.environ.get(GRADING_ENV) == "1":
        return (lambda exercise: None), (lambda: None)

    chapter = load_chapter_checks(chapter_id)
    # the notebook's own language (its metadata) wins over $TFBOOK_LANG and the locale
    notebook_language = of_running_notebook(namespace)

    def run(exercises, include_end: bool):
        learner = NamespaceLearner(namespace, runs_root(), active_preset_name())
        results = [
            chapter.run(c, learner) for e in exercises for c in chapter.checks_for(e) if include_end or not c.at_end
        ]
        return results

    failed_tries: dict[str, int] = {}  # hints come in steps: one more step per failed try

    def check(exercise: str) -> None:
        with language(notebook_language):
            print(feedback(exercise))

    def feedback(exercise: str) -> str:
        if exercise not in chapter.exercises:
            return _("No exercise {exercise!r} in chapter {chapter}; exercises: {exercises}").format(
                exercise=exercise, chapter=chapter_id, exercises=", ".join(chapter.exercises)
            )
        results = run([exercise], include_end=False)
        footer = []
        if any(r.status == "failed" for r in results):
            failed_tries[exercise] = failed_tries.get(exercise, 0) + 1
            steps = chapter.exercises[exercise].next_hints
            footer += [
                "  " + _("next hint: {hint}").format(hint=_(step)) for step in steps[: failed_tries[exercise] - 1]
            ]
            if len(steps) >= failed_tries[exercise]:
                footer.append("  " + _("(another try that fails shows the next hint)"))
        later = [c for c in chapter.checks_for(exercise) if c.at_end]
        if later:
            footer.append(
                "  "
                + _("(also checked when the whole notebook is graded: {checks})").format(
                    checks="; ".join(_(c.description) for c in later)
                )
            )
        return format_results(results, footer="\n".join(footer))

    def check_all() -> None:
        with language(notebook_language):
            print(
                format_chapter(
                    chapter_id,
                    run(list(chapter.exercises), include_end=True),
                    footer="  " + _("The grade that counts: python -m checks {chapter}").format(chapter=chapter_id),
                )
            )

    return check, check_all
