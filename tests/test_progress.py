"""The one progress bar: tqdm on stderr with what it counts, and nothing at all when quiet."""

from __future__ import annotations

from torch_lenet.progress import progress_bar, progress_over


def test_the_bar_counts_on_stderr_and_never_on_stdout(capsys):
    with progress_bar(5, "compare", "img", quiet=False) as tick:
        tick(2)
        tick(note="half way")
        tick(2)
    out, err = capsys.readouterr()
    assert out == ""
    # What it counts, out of how many (later updates are rate-limited: not checked).
    assert "compare" in err and "/5 " in err and "img/s" in err


def test_quiet_shows_nothing(capsys):
    with progress_bar(5, "compare", "img", quiet=True) as tick:
        tick(5, note="done")
    assert list(progress_over(range(3), 3, "search", "batch", quiet=True)) == [0, 1, 2]
    assert capsys.readouterr() == ("", "")


def test_progress_over_hands_on_every_item(capsys):
    assert list(progress_over(iter("abcd"), 4, "search", "batch", quiet=False)) == list("abcd")
    assert "/4 " in capsys.readouterr().err
