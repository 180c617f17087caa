"""`vlmrate run` with stdout not a terminal: plain progress lines, no \\r, no escapes."""

from __future__ import annotations

import io
import re
from pathlib import Path

from tests.helpers import ScriptedEngine, make_dataset, runner_for
from vlmrate.commands.run import run_with_plain_lines
from vlmrate.running.progress_lines import PlainProgress


def test_plain_lines_while_a_run_goes_on(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    make_dataset(tmp_path, 4)
    runner = runner_for(tmp_path, ScriptedEngine(delay_s=0.03))  # 24 answers, ~0.8 s
    final = run_with_plain_lines(runner, every_s=0.2)
    out = capsys.readouterr().err  # beside the terminal's bar: stderr
    assert final.status == "done"
    assert "\r" not in out and "\x1b" not in out
    lines = [line for line in out.splitlines() if " answers/s " in line]
    assert lines[0].split(" ", 2)[2].startswith("loading model: 0/24 (0.0%)")
    assert lines[-1].split(" ", 2)[2].startswith("done: 24/24 (100.0%)")
    running = [line for line in lines if " running: " in line]
    assert len(running) >= 3  # the timed lines between the phase lines
    done_counts = [int(re.search(r"running: (\d+)/24", line).group(1)) for line in running]
    assert done_counts == sorted(done_counts) and done_counts[-1] > done_counts[0]
    for line in running[1:]:
        assert re.search(r"ETA \d+:\d\d", line) and "parse failures 0" in line
        assert "engine errors 0" in line


def test_no_timed_line_after_the_end() -> None:
    out = io.StringIO()
    with PlainProgress(0.05, out):
        pass
    assert out.getvalue() == ""


def test_a_server_going_out_or_back_is_a_line_at_once() -> None:
    """A failover is written when it happens, not at the next timed line (a short run could
    end before that, and the log would never say a server was out)."""
    from vlmrate.running.progress import Progress

    def report(up: bool) -> Progress:
        servers = [{"url": "http://a/v1", "up": True, "answers_per_s": 2.0},
                   {"url": "http://b/v1", "up": up, "answers_per_s": 0.0,
                    "down_reason": "connection refused"}]
        return Progress(run_dir=Path("."), total=10, done=3, per_aspect={}, parse_failures=0,
                        engine_errors=0, ratings_per_s=2.0, tokens_per_s=20.0, elapsed_s=5.0,
                        eta_s=3.5, last_record=None, status="running", servers=servers)

    out = io.StringIO()
    with PlainProgress(3600.0, out) as plain:  # no timed line during this test
        plain(report(up=True))  # the first report: its phase is news
        plain(report(up=True))  # nothing changed: no line
        plain(report(up=False))
        plain(report(up=False))
        plain(report(up=True))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert "OUT" not in lines[0] and "b OUT (connection refused)" in lines[1]
    assert "OUT" not in lines[2]
