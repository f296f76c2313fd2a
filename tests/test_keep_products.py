"""`python -m checks NN` copies what the graded run made into the learner's runs/ (book.toml's
`produces`). A run that made nothing must never cost the learner what an earlier run saved."""

from __future__ import annotations

from checks.grader import keep_products


def _checkpoint(runs, content: bytes | None):
    folder = runs / "ch03" / "checkpoint"
    folder.mkdir(parents=True)
    if content is not None:
        (folder / "cnn.index").write_bytes(content)
    return folder


def test_an_empty_checkpoint_folder_keeps_the_learners_earlier_checkpoint(tmp_path):
    learner = tmp_path / "learner"
    earlier = _checkpoint(learner, b"earlier") / "cnn.index"
    _checkpoint(tmp_path / "graded", None)  # the notebook stopped before saving
    kept = keep_products("03", tmp_path / "graded", learner)
    assert "runs/ch03/checkpoint" not in kept
    assert earlier.read_bytes() == b"earlier"


def test_a_new_checkpoint_replaces_the_earlier_one_whole(tmp_path):
    learner = tmp_path / "learner"
    _checkpoint(learner, b"earlier")
    (learner / "ch03" / "checkpoint" / "stale.data").write_bytes(b"from the earlier run")
    _checkpoint(tmp_path / "graded", b"new")
    (tmp_path / "graded" / "ch03" / "metrics.json").write_text("{}")
    kept = keep_products("03", tmp_path / "graded", learner)
    assert kept == ["runs/ch03/checkpoint", "runs/ch03/metrics.json"]
    assert sorted(p.name for p in (learner / "ch03").iterdir()) == ["checkpoint", "metrics.json"]
    assert [p.name for p in (learner / "ch03" / "checkpoint").iterdir()] == ["cnn.index"]
    assert (learner / "ch03" / "checkpoint" / "cnn.index").read_bytes() == b"new"
