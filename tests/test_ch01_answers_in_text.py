"""Chapters 01 and 02 give no answer away before the learner solves them, and the tooling says where to look.

tools/answers_in_text.py looks for each solution line (and an answer's value, and key figures
filled from answers) in the chapter's prose, its helper cells, the check module's hints and the
README. It once found 1.6's reader in the read_histograms helper cell, 1.5's 2.3 in the prose and
1.7's dead_fraction_bad in `make book`'s key figures.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tfbook.manifest import ROOT

TOOL = ROOT / "tools" / "answers_in_text.py"


def answers_in_text(*args: str) -> str:
    done = subprocess.run([sys.executable, str(TOOL), *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_chapter_01_gives_no_answer_away():
    out = answers_in_text("01")
    last = out.strip().splitlines()[-1]
    found = re.fullmatch(r"(\d+) of (\d+) solution lines appear in the chapter's text", last)
    assert found and int(found.group(2)) > 20, out
    assert found.group(1) == "0", out


def test_chapter_02_gives_no_answer_away():
    """Chapter 02's demo cells once made the very calls exercises ask for: a struct_log logger
    (2.2), a sink and a metric with their create() (2.7, 2.9), and the client cell printed
    logging_client.project above 2.7. The notebook now writes its own entries and makes its own
    sink and metric with the client's logging_api, sinks_api and metrics_api."""
    out = answers_in_text("02")
    last = out.strip().splitlines()[-1]
    found = re.fullmatch(r"(\d+) of (\d+) solution lines appear in the chapter's text", last)
    assert found and int(found.group(2)) > 20, out
    assert found.group(1) == "0", out


def test_the_tool_finds_what_it_looks_for(tmp_path):
    """A helper cell holding an answer, an answer's value in the prose, a hint that is the code,
    and a key figure that is an answer: each is reported."""
    (tmp_path / "solutions").mkdir()
    (tmp_path / "chapters").mkdir()
    (tmp_path / "checks").mkdir()
    solution = """# %% [markdown]
# ## Exercise 9.1
# %%
def reader(log_dir, tag):
    ### BEGIN SOLUTION
    accumulator = event_accumulator.EventAccumulator(str(log_dir))
    return sorted(accumulator.Tensors(tag), key=lambda e: e.step)
    ### END SOLUTION

# %%
### BEGIN SOLUTION
GUESS = math.log(10)
ANSWER = compute_it(data)
### END SOLUTION
metrics = {"answer_figure": ANSWER}
"""
    student = """# %% [markdown]
# The loss starts at 2.30.
# %%
def reader(log_dir, tag):
    raise NotImplementedError
# %%
def other(log_dir, tag):
    accumulator = event_accumulator.EventAccumulator(str(log_dir))
"""
    (tmp_path / "solutions" / "99_x.py").write_text(solution)
    (tmp_path / "chapters" / "99_x.py").write_text(student)
    (tmp_path / "checks" / "ch99.py").write_text(
        'chapter = Chapter("99", {"reader": Exercise("9.1", "Use sorted(accumulator.Tensors(tag), key=lambda e: e.step)")})\n'
    )
    (tmp_path / "book.toml").write_text("""[[chapters]]
id = "99"
solution = "solutions/99_x.py"
student = "chapters/99_x.py"
check_module = "checks.ch99"
figures = ["answer_figure"]
""")
    (tmp_path / "README.md").write_text("answer_figure 0.5\n")
    done = subprocess.run([sys.executable, str(TOOL), "99"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    out = done.stdout
    assert "EventAccumulator(str(log_dir))    (in code)" in out, out
    assert "sorted(accumulator.Tensors(tag), key=lambda e: e.step)    (in hints)" in out, out
    assert "GUESS = math.log(10) written out    (in text (2.30))" in out, out
    assert "key figure answer_figure is ANSWER" in out and "book.toml figures, readme" in out, out
    assert out.strip().endswith("4 of 6 solution lines appear in the chapter's text"), out


def test_make_tensorboard_takes_a_port_and_defaults_to_a_free_one():
    """It hard-coded 6006, so it failed whenever 6006 was taken (a second TensorBoard, a notebook's)."""
    dry = lambda *args: (
        subprocess.run(
            ["make", "-n", "tensorboard", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
        ).stdout
    )
    # TensorBoard's "default": 6006 when free, else the next free port (it prints the address)
    assert re.search(r"tensorboard --logdir runs --port default$", dry(), re.M), dry()
    assert re.search(r"tensorboard --logdir runs --port 8123$", dry("PORT=8123"), re.M), dry("PORT=8123")


def test_the_tool_reads_hints_marked_for_translation(tmp_path):
    """The check modules mark their hints for gettext (N_("..."), _("...").format(...)): the
    tool once read only bare strings, so it missed every hint of chapter 02, one of which named
    2.7's solution line."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("answers_in_text", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    module = tmp_path / "ch99.py"
    module.write_text(
        'chapter = Chapter("99", {"x": Exercise("9.1", N_("first: project = client.project"))})\n'
        "def check():\n"
        '    raise CheckFailed("wrong", hint=_("second: {n} = client.name").format(n="name"))\n'
    )
    hints = tool.hint_strings(module)
    assert "first: project = client.project" in hints, hints
    assert "second: {n} = client.name" in hints, hints
