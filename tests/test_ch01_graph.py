"""Chapter 01's graph (exercise 1.3): the chapter's recipe writes one graph, the network's.

The earlier recipe (trace_on, a call, trace_export) recorded every function that ran while
tracing was on, and TensorBoard's Graphs tab showed 38 `graph_N` boxes around the network.
Both ways of writing a graph pass the check; the chapter teaches the one that writes one graph.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import tensorflow as tf

from chapters import run_01 as run
from helpers import failing, passing, variant

NETWORK_OPS = {"Placeholder", "ReadVariableOp", "MatMul", "AddV2", "Relu", "Identity", "NoOp"}


def graphs_in(log_dir) -> tuple[list, int]:
    """The GraphDefs of the folder's event files, and how many trace_export summaries it holds."""
    graphs, traces = [], 0
    for path in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            if event.HasField("graph_def"):
                graph = tf.compat.v1.GraphDef()
                graph.ParseFromString(event.graph_def)
                graphs.append(graph)
            traces += sum(v.metadata.plugin_data.plugin_name == "graph_run_metadata_graph" for v in event.summary.value)
    return graphs, traces


def test_the_chapters_recipe_writes_exactly_one_graph_of_the_network(solution_01, tmp_path):
    params = solution_01["fc_params"](3)
    solution_01["log_graph"](str(tmp_path), params)
    solution_01["writer_for"](str(tmp_path)).flush()
    graphs, traces = graphs_in(tmp_path)
    assert len(graphs) == 1 and traces == 0, (len(graphs), traces)
    ops = Counter(node.op for node in graphs[0].node)
    assert ops["MatMul"] == 3 and ops["Relu"] == 2 and ops["AddV2"] == 3, ops
    assert set(ops) <= NETWORK_OPS, set(ops) - NETWORK_OPS  # nothing but the network


def trace_export_graph(ns):
    """The other correct way: trace one call between trace_on and trace_export."""

    def log_graph(log_dir, params):
        model = tf.function(lambda x: ns["fc_forward"](x, params)["logits"])
        writer = ns["writer_for"](log_dir)
        tf.summary.trace_on(graph=True)
        model(tf.zeros([2, 784]))
        with writer.as_default():
            tf.summary.trace_export("fc_forward", step=0)
        writer.flush()

    return log_graph


def summary_graph_of_a_concrete_function(ns):
    """tf.summary.graph of a concrete function traced from an example batch (no TensorSpec)."""

    def log_graph(log_dir, params):
        traced = tf.function(lambda x: ns["fc_forward"](x, params)["logits"]).get_concrete_function(
            tf.constant(np.zeros((3, 784), np.float32))
        )
        with ns["writer_for"](log_dir).as_default():
            tf.summary.graph(traced.graph)
        ns["writer_for"](log_dir).flush()

    return log_graph


def test_both_ways_of_writing_the_graph_pass(solution_01):
    for way in (trace_export_graph, summary_graph_of_a_concrete_function):
        passing(run(variant(solution_01, log_graph=way(solution_01)), "log_graph"))


def test_a_graph_that_is_not_the_network_still_fails(solution_01):
    def wrong(log_dir, params):
        traced = tf.function(lambda x: tf.nn.relu(tf.matmul(x, params["w1"]))).get_concrete_function(
            tf.TensorSpec([None, 784], tf.float32)
        )
        with solution_01["writer_for"](log_dir).as_default():
            tf.summary.graph(traced.graph)
        solution_01["writer_for"](log_dir).flush()

    r = failing(run(variant(solution_01, log_graph=wrong), "log_graph"), "log_graph_written")
    assert "1 MatMul" in r.got and "fc_forward" in r.hint
