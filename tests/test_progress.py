"""The one progress display (core/progress.py): right totals, an empty stage shown once as done, a
terminal bar redrawn in place, and plain lines (no carriage returns) anywhere else."""

from __future__ import annotations

import io

from core.progress import Progress


def test_off_a_terminal_each_stage_is_one_line_when_it_ends() -> None:
    out = io.StringIO()
    with Progress(out) as progress:
        progress("posts", 0, 1200)
        progress("posts", 600, 1200)
        progress("posts", 1200, 1200)
        progress("hashtags", 0, 0)
        progress("hashtags", 0, 0)
    lines = out.getvalue().splitlines()
    assert [line.split(" done in ")[0].split() for line in lines] == [["posts", "1,200/1,200"], ["hashtags", "0/0"]]
    assert "\r" not in out.getvalue()


def test_a_total_that_grows_raises_the_total_instead_of_passing_it() -> None:
    out = io.StringIO()
    with Progress(out) as progress:
        progress.start("users", 10)
        progress.advance(8)
        progress.advance(4)  # two rows more than counted at the start
    assert out.getvalue().split()[:2] == ["users", "12/12"]


def test_on_a_terminal_a_bar_is_redrawn_and_ends_done() -> None:
    out = io.StringIO()
    with Progress(out, live=True) as progress:
        progress("posts", 0, 4)
        progress("posts", 4, 4)
        progress("hashtags", 0, 0)
    text = out.getvalue()
    finals = [chunk.split("\r")[-1] for chunk in text.split("\n") if chunk]
    assert finals[0].split()[:2] == ["posts", "100%|##############################|"], finals
    assert finals[0].endswith("| 4/4 [00:00, done]"), finals
    assert finals[1].split()[:3] == ["hashtags", "0/0", "done"], finals
    assert "0/0" not in finals[0] and "1/1" not in text
