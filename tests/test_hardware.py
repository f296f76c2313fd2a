"""tfbook/hardware.py: the bfloat16 check reads /proc/cpuinfo's flags, forced off and on here."""

from __future__ import annotations

import json
import sys

import pytest

from tfbook import hardware
from tfbook.hardware import bf16_units, cpu_flags

CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Some CPU
flags\t\t: fpu sse2 avx2 {extra}
bogomips\t: 4000.00

processor\t: 1
flags\t\t: fpu sse2 avx2 {extra}
"""


@pytest.mark.parametrize(
    "extra, expected",
    [
        ("", None),
        ("avx512f avx512_vnni", None),
        ("avx512f avx512_bf16", "AVX512-BF16"),
        ("avx512_bf16 amx_tile amx_bf16 amx_int8", "AMX"),  # AMX is preferred when both are there
    ],
)
def test_flags_decide(extra, expected):
    assert bf16_units(CPUINFO.format(extra=extra)) == expected


def test_flag_names_are_whole_words():
    assert bf16_units(CPUINFO.format(extra="not_avx512_bf16x")) is None
    assert bf16_units("model name\t: avx512_bf16 in the name only\n") is None  # not a flags line


def test_reads_the_cpuinfo_file(tmp_path, monkeypatch):
    fake = tmp_path / "cpuinfo"
    monkeypatch.setattr(hardware, "CPUINFO", fake)
    monkeypatch.setattr(sys, "platform", "linux")
    fake.write_text(CPUINFO.format(extra="avx512_bf16"))
    assert bf16_units() == "AVX512-BF16"
    fake.write_text(CPUINFO.format(extra=""))
    assert bf16_units() is None
    fake.unlink()  # unreadable: no units, no error
    assert bf16_units() is None and cpu_flags() == set()


def test_off_linux_is_none(tmp_path, monkeypatch):
    fake = tmp_path / "cpuinfo"
    fake.write_text(CPUINFO.format(extra="amx_bf16"))
    monkeypatch.setattr(hardware, "CPUINFO", fake)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert bf16_units() is None


def test_this_machine_answers():
    assert bf16_units() in (None, "AMX", "AVX512-BF16")


def test_chapter_03_bfloat16_rewrite_does_not_leak():
    """The chapter's bfloat16_rewrite() turns oneDNN's bf16 rewrite on for its block only: the
    option is read when a tf.function is called, so a call after the block must be fp32."""
    import numpy as np
    import tensorflow as tf

    from tfbook.chapter_code import load_chapter

    option = "auto_mixed_precision_onednn_bfloat16"
    chapter = load_chapter("03", preset="smoke")
    assert chapter.settings["precision"] in ("fp32", "bf16")

    def is_on():
        return tf.config.optimizer.get_experimental_options().get(option, False)

    assert not is_on()
    with chapter.bfloat16_rewrite():
        assert is_on()
        with chapter.bfloat16_rewrite(False):
            assert not is_on()
        assert is_on()
    assert not is_on()
    with pytest.raises(ZeroDivisionError), chapter.bfloat16_rewrite():
        1 / 0
    assert not is_on()  # restored after an error too

    params = chapter.init_params(0.1, chapter.settings["seed"])
    hidden = tf.function(lambda x: chapter.forward(x, params, chapter.KEEP_PROB_EVAL)["h_fc1"])
    x = chapter.x_test[:20]
    eager = chapter.forward(x, params, chapter.KEEP_PROB_EVAL)["h_fc1"].numpy()
    np.testing.assert_allclose(hidden(x).numpy(), eager, rtol=1e-5, atol=1e-5)  # fp32 graph = eager
    if bf16_units() is not None:
        with chapter.bfloat16_rewrite():
            rounded = hidden(x).numpy()
        assert np.abs(rounded - eager).max() > 1e-4  # the same function, now rewritten to bf16
    np.testing.assert_allclose(hidden(x).numpy(), eager, rtol=1e-5, atol=1e-5)  # and fp32 again


def test_the_off_switch_answers_none_whatever_the_cpu(tmp_path, monkeypatch):
    fake = tmp_path / "cpuinfo"
    fake.write_text(CPUINFO.format(extra="amx_bf16"))
    monkeypatch.setattr(hardware, "CPUINFO", fake)
    monkeypatch.setattr(sys, "platform", "linux")
    assert bf16_units() == "AMX"
    monkeypatch.setenv("TFBOOK_BF16", "off")
    assert bf16_units() is None


@pytest.mark.slow
def test_chapter_03_trains_in_fp32_with_a_message_on_a_cpu_without_bf16_units(tmp_path, monkeypatch):
    """The smoke preset asks for bf16 like `quick`; with the units switched off the chapter says
    so, trains in fp32 and still earns every point."""
    from checks.grader import grade_notebook
    from tfbook.manifest import load_book

    monkeypatch.setenv("TFBOOK_BF16", "off")  # the kernel inherits it
    assert load_book().presets["smoke"]["ch03"]["precision"] == "bf16"
    notebook = load_book().chapter("03").notebook("solution")
    grade = grade_notebook("03", notebook, preset="smoke", keep_in=tmp_path)
    printed = "".join(
        out.get("text", "")
        for cell in grade.executed.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
    )
    assert "no bfloat16 units" in printed and "training in fp32" in printed
    assert "the demo is skipped" in printed  # the speed demo needs the units too
    assert "the race is skipped" in printed  # when_graded: the grader skips the ungraded race
    metrics = json.loads((tmp_path / "ch03" / "metrics.json").read_text())
    assert metrics["precision"] == "fp32"
    assert not grade.stopped and not grade.cell_errors, (grade.stopped, grade.cell_errors)
    assert all(r.status == "passed" for r in grade.results), [r.message for r in grade.results if r.status != "passed"]
