"""The checks' random cases come from a seed the report prints, and that seed replays them."""

from __future__ import annotations

import numpy as np
import pytest

from checks import engine
from checks.engine import Chapter, CheckFailed, Exercise
from checks.report import format_results


@pytest.fixture
def fresh_seed(monkeypatch):
    """Each test starts as a new process would: no seed drawn yet."""
    monkeypatch.setattr(engine, "_seed", None)
    monkeypatch.delenv(engine.SEED_ENV, raising=False)


def _chapter(draws: list):
    chapter = Chapter("99", {"one": Exercise("9.1", "a hint"), "two": Exercise("9.2", "")})

    @chapter.check("one", 1, "draws numbers")
    def first(learner):
        draws.append(("first", engine.rng().integers(1 << 30, size=3).tolist(), engine.py_random().random()))
        raise CheckFailed("wrong on purpose")

    @chapter.check("two", 1, "draws numbers too")
    def second(learner):
        draws.append(("second", engine.rng().integers(1 << 30, size=3).tolist()))

    return chapter


def _run(chapter, order):
    return [chapter.run(chapter.checks[i], learner=None) for i in order]


def test_the_same_seed_draws_the_same_cases_in_any_order(fresh_seed, monkeypatch):
    monkeypatch.setenv(engine.SEED_ENV, "1234")
    a, b = [], []
    _run(_chapter(a), [0, 1])
    _run(_chapter(b), [1, 0])  # another order: each check still gets its own cases
    assert sorted(a) == sorted(b)
    engine._seed = None
    monkeypatch.setenv(engine.SEED_ENV, "1235")
    c = []
    _run(_chapter(c), [0, 1])
    assert sorted(c) != sorted(a)


def test_without_a_seed_each_run_draws_new_cases_and_reports_its_seed(fresh_seed, monkeypatch):
    draws = []
    results = _run(_chapter(draws), [0, 1])
    seed = engine.check_seed()
    text = format_results(results)
    assert f"seed {seed}" in text and f"python -m checks 99 --seed {seed}" in text
    assert engine.results_json("99", results)["seed"] == seed
    # replaying that seed in a new process draws the very same cases
    monkeypatch.setattr(engine, "_seed", None)
    monkeypatch.setenv(engine.SEED_ENV, str(seed))
    again = []
    _run(_chapter(again), [0, 1])
    assert again == draws
    # and without it, another run draws other cases
    monkeypatch.setattr(engine, "_seed", None)
    monkeypatch.delenv(engine.SEED_ENV)
    other = []
    _run(_chapter(other), [0, 1])
    assert other != draws


def test_a_bad_seed_is_named(fresh_seed, monkeypatch):
    monkeypatch.setenv(engine.SEED_ENV, "abc")
    with pytest.raises(ValueError, match="TFBOOK_CHECK_SEED='abc' is not a seed"):
        engine.check_seed()


def test_the_chapters_draw_from_the_engine():
    """No check module draws from unseeded generators of its own."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "checks"
    for path in sorted(root.glob("ch0*.py")):
        text = path.read_text()
        assert "default_rng()" not in text and "random.Random()" not in text, path.name
    assert isinstance(engine.rng(), np.random.Generator)
