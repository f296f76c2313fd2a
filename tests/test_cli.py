import subprocess
import sys


def tfbook(*args):
    return subprocess.run([sys.executable, "-m", "booktools.cli", *args], capture_output=True, text=True, timeout=300)


def test_hint_names_the_exercise_and_its_checks():
    proc = tfbook("hint", "03", "loss")
    assert proc.returncode == 0
    assert "Exercise 3.7: loss" in proc.stdout and "softmax_cross_entropy_with_logits" in proc.stdout
    assert "checked: loss_fn is the mean softmax cross-entropy" in proc.stdout


def test_hint_for_an_unknown_exercise_lists_the_real_ones():
    proc = tfbook("hint", "03", "nope")
    assert proc.returncode == 2 and "3.1 reshape_input" in proc.stderr


def test_list_shows_chapters_and_exercises():
    proc = tfbook("list")
    assert proc.returncode == 0
    for chapter in (
        "01 Watching training with TensorBoard",
        "02 A log collector",
        "03 Training a CNN on MNIST",
        "04 Predicting the digits you draw",
    ):
        assert chapter in proc.stdout
    assert "3.9 checkpoint" in proc.stdout and "Traceback" not in proc.stderr


def test_unknown_chapter_is_a_clear_error():
    proc = tfbook("hint", "07", "x")
    assert proc.returncode == 2 and "no chapter '07'" in proc.stderr and "Traceback" not in proc.stderr


def test_release_check_passes_on_a_clean_tree():
    proc = tfbook("release", "--check")
    assert proc.returncode == 0 and "up to date" in proc.stdout
