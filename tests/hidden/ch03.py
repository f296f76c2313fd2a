"""An example of a hidden check for chapter 03 (instructor-only; never shipped to learners).

Class grading loads it with ``tfbook grade 03 FOLDER --hidden tests/hidden`` (or
``TFBOOK_HIDDEN_CHECKS=tests/hidden``); the learner's ``check(...)`` never does. In a real
course, keep this folder outside the repository learners clone.
"""

import numpy as np

from booktools.hidden import hidden_check
from checks.engine import expect_close, expect_shape, tensor


@hidden_check(
    "accuracy",
    points=1,
    description="accuracy_fn on one row, and on a tie-free batch of 100 rows with a large logit range",
)
def accuracy_edge_batches(learner):
    eye = np.eye(10, dtype=np.float32)
    one = learner.call("accuracy_fn", tensor(eye[[7]] * 4), tensor(eye[[7]]))
    expect_shape(one, (), "accuracy_fn's result on one row", hint="One number, also for a batch of one row.")
    expect_close(one, np.float32(1.0), "accuracy_fn on one right row")
    rng = np.random.default_rng(3)
    labels = eye[rng.integers(0, 10, 100)]
    logits = (rng.standard_normal((100, 10)) * 1e3).astype(np.float32)
    expected = float(np.mean(np.argmax(logits, 1) == np.argmax(labels, 1)))
    got = learner.call("accuracy_fn", tensor(logits), tensor(labels))
    expect_close(got, np.float32(expected), "accuracy_fn on 100 rows with logits up to 1000")
