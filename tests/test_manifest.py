import pytest

from tfbook.manifest import ManifestError, load_book, parse_book, preset

GOOD = {
    "book": {"title": "t", "default_preset": "quick"},
    "presets": {"quick": {"description": "q", "seed": 1, "ch03": {"steps": 5}}},
    "chapters": [{"id": "03", "title": "T", "status": "planned"}],
}


def bad(path, value):
    import copy

    data = copy.deepcopy(GOOD)
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


def test_the_real_manifest_loads_and_lists_chapter_03():
    book = load_book()
    assert [c.id for c in book.chapters] == ["01", "02", "03"] or "03" in [c.id for c in book.chapters]
    chapter = book.chapter("3")
    assert chapter.ready and chapter.check_module == "checks.ch03"
    assert chapter.solution.exists()


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("book", "title"), KeyError, "book.title: missing"),
        (("book", "default_preset"), "fast", "book.default_preset: 'fast' is not a preset"),
        (("presets", "quick", "seed"), "one", "presets.quick.seed: expected a int"),
        (("chapters", 0, "id"), "3", "chapters[0].id: expected two digits"),
        (("chapters", 0, "status"), "done", "chapters[0].status: expected one of"),
        (("chapters", 0, "title"), 3, "chapters[0].title: expected a str, got 3"),
    ],
)
def test_a_wrong_manifest_names_the_key(path, value, message):
    with pytest.raises(ManifestError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_book(bad(path, value))


def test_a_ready_chapter_needs_its_files(tmp_path):
    data = bad(("chapters", 0, "status"), "ready")
    data["chapters"][0].update(solution="solutions/missing.py", student="chapters/x.py", check_module="checks.x")
    with pytest.raises(ManifestError, match=r"chapters\[0\].solution: solutions/missing.py does not exist"):
        parse_book(data, tmp_path)


def test_presets_merge_common_and_chapter_keys(monkeypatch):
    monkeypatch.setenv("TFBOOK_PRESET", "full")
    full = preset("03")
    assert (full["name"], full["batch_size"], full["steps"], full["fc_init_stddev"]) == ("full", 50, 10000, 1.0)
    assert full["seed"] == 20160704 and full["learning_rate"] == 1e-4
    assert preset("03", "quick")["steps"] < full["steps"]


def test_an_unknown_preset_says_which_exist(monkeypatch):
    monkeypatch.setenv("TFBOOK_PRESET", "fastest")
    with pytest.raises(ManifestError, match="'fastest'.*choose one of: quick, full"):
        preset("03")


def test_when_graded_keys_replace_the_presets_only_under_the_grader(monkeypatch):
    monkeypatch.delenv("TFBOOK_GRADING", raising=False)
    learner = preset("03", "quick")
    assert "when_graded" not in learner
    monkeypatch.setenv("TFBOOK_GRADING", "1")  # what checks/grader.py sets for the kernel
    graded = preset("03", "quick")
    assert graded["flaw_demo_steps"] < learner["flaw_demo_steps"]
    assert graded["bf16_demo_rounds"] <= learner["bf16_demo_rounds"]
    # what is graded keeps its meaning: the recipe and the pass mark are the same
    for key in ("steps", "batch_size", "learning_rate", "lr_schedule", "min_test_accuracy", "precision"):
        assert graded[key] == learner[key], key


def test_when_graded_may_not_add_settings():
    data = bad(("presets", "quick", "ch03", "when_graded"), {"stepz": 1})
    with pytest.raises(ManifestError, match=r"presets.quick.ch03.when_graded.stepz: unknown key \(known keys: steps\)"):
        parse_book(data)
    with pytest.raises(ManifestError, match="presets.quick.ch03.when_graded: expected a table"):
        parse_book(bad(("presets", "quick", "ch03", "when_graded"), 3))


def test_a_preset_without_a_chapter_says_which_chapters_it_has():
    with pytest.raises(
        ManifestError, match="presets.best.ch01: missing .*preset 'best' has settings for chapters 03, 04"
    ):
        preset("01", "best")
