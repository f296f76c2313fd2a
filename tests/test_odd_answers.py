"""Odd answers never break a check: whatever a learner's function returns (None, a string, a
dict, a ragged list, a NaN, an array of the wrong shape, ...) or raises, and whatever odd value
a learner's constant holds, every check of chapters 01, 03 and 04 that reads it fails with a
learner-facing message, never with "the check itself could not finish" (a grader bug, see
Chapter.run) and never passes. In-process, on the solution's exercise cells, `smoke` preset;
the checks that need a full training run (at_end) are left out."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tensorflow as tf
import pytest

import checks.ch01
import checks.ch03
import checks.ch04
from chapters import chapter_namespace, variant_04
from checks.engine import NamespaceLearner
from helpers import variant

GRADER_BUG = "the check itself could not finish"

ODD_VALUES = {
    "None": None,
    "str": "not a tensor",
    "dict": {"answer": 1.0},
    "ragged": [[1.0, 2.0], [3.0]],
    "tuple3": (np.arange(4.0), np.arange(4.0), np.arange(4.0)),  # (steps, values) has 2
    "nan": np.array(np.nan),
    "wrong_shape": np.ones((3, 5), np.float32),
    "empty": np.zeros((0,), np.float32),
    "bool": True,
}


def _raises(*args, **kwargs):
    raise ValueError("an odd failure")


def _returns(value):
    return lambda *args, **kwargs: value


ODD_FUNCTIONS = {**{name: _returns(value) for name, value in ODD_VALUES.items()}, "raises": _raises}

# function the checks call -> the checks that call it (directly or through a helper)
CALLED = {
    "01": {
        "log_scalars": ["log_scalars_values"],
        "log_histograms": ["log_histograms_every_tensor"],
        "log_graph": ["log_graph_written"],
        "run_log_dir": ["run_log_dir_layout"],
        "read_scalars": ["read_scalars_one_file", "read_scalars_two_files"],
        "dead_fraction": ["dead_fraction_values"],
    },
    "03": {
        "reshape_input": ["reshape_input"],
        "output_size": ["output_size_conv", "output_size_pool"],
        "conv_layer": ["conv_layer_1", "conv_layer_2", "conv_layer_traced"],
        "max_pool_2x2": ["conv_layer_traced", "max_pool"],
        "flatten": ["flatten_values"],
        "fully_connected": ["fully_connected"],
        "dropout": ["dropout_training", "dropout_eval"],
        "forward": ["forward_shapes", "forward_values", "forward_dropout"],
        "loss_fn": ["loss_value", "loss_confident"],
        "accuracy_fn": ["accuracy_value"],
        "save_checkpoint": ["checkpoint_roundtrip"],
    },
    "04": {
        "restore_params": ["restore_values", "restore_refuses_incomplete"],
        "predict_probabilities": ["predict_deterministic", "predict_values"],
        "prepare": ["prepare_format", "prepare_centred", "prepare_in_box"],
        "plot_probabilities": ["plot_bars", "plot_axes"],  # through figure_numbers
        "figure_numbers": ["plot_bars", "plot_axes"],  # the support cell the check calls
        "first_layer_maps": ["maps_shape", "maps_values"],
    },
}

# constant a learner sets -> the checks that read it with learner.value
VALUES = {
    "01": {"PREDICTED_INITIAL_LOSS": ["prediction_close"]},
    "03": {
        "FLATTEN_SIZE": ["flatten_size"],
        "KEEP_PROB_TRAIN": ["keep_prob_values"],
        "KEEP_PROB_EVAL": ["keep_prob_values"],
        "CONV2_PARAMS": ["conv2_params"],
        "TOTAL_PARAMS": ["total_params"],
    },
    "04": {"FLAT_SIZE_56": ["bigger_canvas"]},
}

# Passing is right here: the check asks for an error, and raising is one.
MAY_PASS = {("04", "restore_params", "raises", "restore_refuses_incomplete")}

CHAPTERS = {"01": checks.ch01, "03": checks.ch03, "04": checks.ch04}


@pytest.fixture(scope="module")
def namespaces(tmp_path_factory):
    """Each chapter's solution namespace, built once (the cases copy it before replacing)."""
    ns01 = chapter_namespace("01", runs=tmp_path_factory.mktemp("odd-runs-01"))  # $TFBOOK_RUNS while it loads
    return {"01": ns01, "03": chapter_namespace("03"), "04": chapter_namespace("04")}


def run_checks(chapter_id: str, ns: dict, names: list[str], runs_dir: Path) -> dict:
    chapter = CHAPTERS[chapter_id].chapter
    learner = NamespaceLearner(ns, runs_dir, "smoke")
    by_name = {c.func.__name__: c for c in chapter.checks}
    return {name: chapter.run(by_name[name], learner) for name in names}


def assert_no_pass_and_no_grader_bug(results: dict, case: tuple) -> None:
    for name, r in results.items():
        assert r.status != "passed" or (*case, name) in MAY_PASS, f"{case} {name} passed"
        assert GRADER_BUG not in r.message, f"{case} {name}: {r.message}"
        assert r.passed or r.message, f"{case} {name}: failed without a message"


def _cases(table: dict, odd: dict):
    return [
        pytest.param(ch, name, odd_id, id=f"{ch}-{name}-{odd_id}")
        for ch, names in table.items()
        for name in names
        for odd_id in odd
    ]


@pytest.mark.parametrize("chapter_id, function, odd", _cases(CALLED, ODD_FUNCTIONS))
def test_an_odd_answer_fails_with_a_message(namespaces, tmp_path, monkeypatch, chapter_id, function, odd):
    monkeypatch.setenv("TFBOOK_RUNS", str(tmp_path))
    replace = {function: ODD_FUNCTIONS[odd]}
    ns = (
        variant_04(namespaces["04"], **replace)
        if function == "plot_probabilities"
        else variant(namespaces[chapter_id], **replace)
    )
    results = run_checks(chapter_id, ns, CALLED[chapter_id][function], tmp_path)
    assert_no_pass_and_no_grader_bug(results, (chapter_id, function, odd))


@pytest.mark.parametrize("chapter_id, constant, odd", _cases(VALUES, ODD_VALUES))
def test_an_odd_constant_fails_with_a_message(namespaces, tmp_path, chapter_id, constant, odd):
    ns = variant(namespaces[chapter_id], **{constant: ODD_VALUES[odd]})
    results = run_checks(chapter_id, ns, VALUES[chapter_id][constant], tmp_path)
    assert_no_pass_and_no_grader_bug(results, (chapter_id, constant, odd))


@pytest.mark.parametrize("chapter_id", sorted(CHAPTERS))
def test_every_function_and_constant_the_checks_read_is_covered(chapter_id):
    """A new learner.call / learner.value in a check module must be added to the tables above."""
    module = CHAPTERS[chapter_id]
    source = Path(module.__file__).read_text()
    called = set(re.findall(r'(?:call|_traced|call_void)\((?:learner,\s*)?"(\w+)"', source))
    read = set(re.findall(r'learner\.value\("(\w+)"\)', source))
    at_end_only = {"DEAD_FRACTION_BAD"}  # read only by at_end checks
    assert called == set(CALLED[chapter_id]) - {"plot_probabilities"}
    assert read - at_end_only == set(VALUES[chapter_id])
    checks = {c.func.__name__ for c in module.chapter.checks}
    for table in (CALLED, VALUES):
        assert {n for names in table[chapter_id].values() for n in names} <= checks


# --- chapter 02: strings, Flask routes, a sink and a metric -------------------------------------
# Chapter 02's exercises return text (filters, SQL) or act on a logging client and a Flask app, so
# its odd answers are of other kinds: not a str, garbage text, a route that registers nothing...
# Each check starts its own local logging service (about 0.3 s), hence a subset per kind.

import checks.ch02  # noqa: E402


def _routes(view):
    """A route builder registering ``view`` on both '/' and '/slog' (the text and struct routes)."""

    def add_route(app, logging_client):
        for path in ("/", "/slog"):
            app.add_url_rule(path, f"odd{path}", view)

    return add_route


def _view_raises():
    raise ValueError("an odd failure in the view")


ODD_TEXTS = {
    "None": _returns(None),
    "int": _returns(3),
    "list": _returns(["logName", "AND"]),
    "dict": _returns({"filter": "x"}),
    "garbage": _returns("(("),
    "empty": _returns(""),
    "raises": _raises,
}
ODD_ROUTES = {
    "registers_nothing": lambda app, logging_client: None,
    "view_returns_None": _routes(lambda: None),
    "view_raises": _routes(_view_raises),
    "raises": _raises,
}
ODD_CREATORS = {"None_creates_nothing": _returns(None), "raises": _raises}
ODD_COUNTS = {"str": "7", "dict": {"count": 7}, "nan": float("nan"), "None": None, "list": [7], "bool": True}

CALLED_02 = {  # function -> (the checks that call it, its odd answers)
    "add_text_route": (["text_route", "text_route_default"], ODD_ROUTES),
    "add_struct_route": (["struct_route", "struct_route_default"], ODD_ROUTES),
    "minus_a_filter": (["minus_a_filter"], ODD_TEXTS),
    "key_alert_filter": (["key_alert_filter"], ODD_TEXTS),
    "window_filter": (["window_filter"], ODD_TEXTS),
    "key_report_sql": (
        ["daily_sql"],
        {
            **ODD_TEXTS,
            "comment_only": _returns("-- SELECT 1"),
            "infinite_count": _returns("SELECT 'k', CAST('inf' AS DOUBLE), 1"),
        },
    ),
    "create_struct_sink": (["sink_destination", "sink_export"], ODD_CREATORS),
    "create_minus_a_metric": (["minus_a_metric"], ODD_CREATORS),
}
VALUES_02 = {"PREDICTED_NOT_COUNT": ["predict_not"]}


@pytest.fixture(scope="module")
def namespace_02():
    return chapter_namespace("02")


def run_checks_02(ns: dict, names: list[str]) -> dict:
    learner = NamespaceLearner(ns, "/nonexistent", "smoke")
    by_name = {c.func.__name__: c for c in checks.ch02.chapter.checks}
    return {name: checks.ch02.chapter.run(by_name[name], learner) for name in names}


@pytest.mark.parametrize(
    "function, odd", [pytest.param(f, odd, id=f"02-{f}-{odd}") for f, (_, odds) in CALLED_02.items() for odd in odds]
)
def test_an_odd_answer_of_chapter_02_fails_with_a_message(namespace_02, function, odd):
    names, odds = CALLED_02[function]
    results = run_checks_02(variant(namespace_02, **{function: odds[odd]}), names)
    assert_no_pass_and_no_grader_bug(results, ("02", function, odd))


@pytest.mark.parametrize("odd", [pytest.param(odd, id=f"02-PREDICTED_NOT_COUNT-{odd}") for odd in ODD_COUNTS])
def test_an_odd_constant_of_chapter_02_fails_with_a_message(namespace_02, odd):
    results = run_checks_02(variant(namespace_02, PREDICTED_NOT_COUNT=ODD_COUNTS[odd]), ["predict_not"])
    assert_no_pass_and_no_grader_bug(results, ("02", "PREDICTED_NOT_COUNT", odd))


def test_every_function_and_constant_chapter_02_reads_is_covered(namespace_02):
    """Chapter 02 names the learner's functions in helpers (_door, _filter_case, ...): every quoted
    name of a function the solution defines must be in CALLED_02."""
    source = Path(checks.ch02.__file__).read_text()
    quoted = set(re.findall(r'"(\w+)"', source))
    functions = {n for n in quoted if callable(namespace_02.get(n)) and not n[0].isupper()}
    assert functions == set(CALLED_02)
    assert set(re.findall(r'learner\.value\("(\w+)"\)', source)) == set(VALUES_02)
    checks_02 = {c.func.__name__ for c in checks.ch02.chapter.checks}
    assert {n for names, _ in CALLED_02.values() for n in names} | {"predict_not"} <= checks_02


# --- chapter 03: forward returns a dict, but not of tensors --------------------------------------
# A dict whose values are a layer's name, a str or a nested dict. Through a kernel a str value comes
# back as a str (not a tensor); _EagerLearner reaches that path in-process too: its traced calls
# run eagerly, so the str reaches the check as it does from a kernel.


class _EagerLearner(NamespaceLearner):
    def call_traced(self, name, *args, **kwargs):
        return self.call(name, *args, **kwargs)


def _forward_with(**values):
    def make(ns):
        inner = ns["forward"]

        def forward(x, params, keep_prob):
            return {**inner(x, params, keep_prob), **values}

        return forward

    return make


def _forward_of_names(ns):
    def forward(x, params, keep_prob):
        return {name: "x" for name in checks.ch03.LAYER_SHAPES}

    return forward


def _forward_h_conv1_only(ns):
    def forward(x, params, keep_prob):
        return {"h_conv1": "x"}

    return forward


ODD_FORWARD_DICTS = {
    "every_value_a_str": _forward_of_names,
    "only_h_conv1_a_str": _forward_h_conv1_only,
    "h_drop_str": _forward_with(h_drop="x"),
    "h_fc1_str": _forward_with(h_fc1="x"),
    "h_drop_dict": _forward_with(h_drop={"a": 1.0}),
    "logits_str": _forward_with(logits="x"),
}


@pytest.mark.parametrize("learner_kind", ["traced", "eager"])
@pytest.mark.parametrize("odd", list(ODD_FORWARD_DICTS))
def test_forward_returning_a_dict_of_odd_values_fails_with_a_message(namespaces, odd, learner_kind):
    ns = variant(namespaces["03"], forward=ODD_FORWARD_DICTS[odd](namespaces["03"]))
    learner = (NamespaceLearner if learner_kind == "traced" else _EagerLearner)(ns, "/nonexistent", "smoke")
    by_name = {c.func.__name__: c for c in checks.ch03.chapter.checks}
    results = {name: checks.ch03.chapter.run(by_name[name], learner) for name in CALLED["03"]["forward"]}
    assert_no_pass_and_no_grader_bug(results, ("03", "forward", f"{odd}-{learner_kind}"))


# --- what the messages say for three common slips ------------------------------------------------


def test_steps_and_values_of_different_lengths_are_named_as_such(namespaces, tmp_path):
    ns = variant(namespaces["01"], read_scalars=lambda log_dir, tag: ([0, 10, 20], [0.5, 0.4]))
    r = run_checks("01", ns, ["read_scalars_one_file"], tmp_path)["read_scalars_one_file"]
    assert not r.passed and "different lengths (3, 2)" in r.message and "inhomogeneous" not in r.message


def test_a_function_failing_eagerly_too_is_not_said_to_work_eagerly(namespaces, tmp_path):
    def loss_fn(logits, labels):
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits[:, :5]))

    r = run_checks("03", variant(namespaces["03"], loss_fn=loss_fn), ["loss_value"], tmp_path)["loss_value"]
    assert not r.passed and "works eagerly" not in r.message and "raised" in r.message


def test_text_returned_inside_tf_function_is_called_text(namespaces, tmp_path):
    r = run_checks("03", variant(namespaces["03"], loss_fn=lambda logits, labels: "0.5"), ["loss_value"], tmp_path)[
        "loss_value"
    ]
    assert not r.passed and "text (strings)" in r.message
