"""A check that another exercise's mistake left with nothing to judge ("not checked") keeps its
points in every report: the terminal, Gradescope's results.json and the instructor pages."""

from __future__ import annotations

from dataclasses import asdict

from checks.engine import Blocked, Chapter, Exercise
from checks.report import format_results


def _results():
    chapter = Chapter("99", {"runs": Exercise("9.1", "idea"), "plot": Exercise("9.2", "idea")})

    @chapter.check("runs", 2, "the runs are in their own folders")
    def runs(learner):
        from checks.engine import CheckFailed

        raise CheckFailed("every run went into one folder")

    @chapter.check("plot", 3, "the plot reads the second run")
    def plot(learner):
        raise Blocked("could not be checked because exercise 9.1 put every run in one folder")

    return [chapter.run(c, None) for c in chapter.checks]


def test_not_checked_keeps_its_points_everywhere():
    failed, blocked = _results()
    assert (failed.earned, blocked.earned, blocked.status) == (0, 3, "not checked")
    text = format_results([failed, blocked])
    assert "SKIP  9.2 plot  3/3" in text and "could not be checked because exercise 9.1" in text
    from booktools.gradescope import results_json

    tests = results_json({"results": [asdict(failed), asdict(blocked)], "earned": 3, "points": 5, "chapter": "99"})[
        "tests"
    ]
    assert [(t["status"], t["score"]) for t in tests] == [("failed", 0), ("passed", 3)]
