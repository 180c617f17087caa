"""`vlmrate` / `vlmrate tui`: open the Textual app on the current folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vlmrate.errors import UserError


def _prepare_terminal_images() -> str:
    """textual-image asks the terminal what it can draw (Sixel, Kitty) when it is imported,
    which is only possible before Textual takes the terminal over."""
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        return "placeholder"
    try:
        import textual_image.widget  # noqa: F401
    except Exception:  # pragma: no cover - a broken optional renderer must not stop the app
        return "placeholder"
    return "auto"


def launch(runs_dir: Path, open_run: Path | None = None) -> int:
    """Run the app on runs_dir (optionally opening one run's Results first)."""
    from vlmrate.engines.output import output_to_log, tui_log_path
    from vlmrate.tui.app import VlmrateApp

    image_mode = _prepare_terminal_images()
    with output_to_log(tui_log_path(runs_dir)):
        # the app is made inside: Textual remembers sys.__stdout__/__stderr__ when it starts
        app = VlmrateApp(runs_dir=runs_dir, image_mode=image_mode, open_run=open_run)
        app.run()
    return int(app.return_code or 0)


def main(args: argparse.Namespace) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        # Textual would wait for a terminal that never answers (and spin a core)
        raise UserError("the TUI needs a terminal (stdin and stdout are not one here); "
                        "without one use the commands: vlmrate run|stats|export|review ... "
                        "(vlmrate --help)")
    return launch(Path(getattr(args, "runs_dir", None) or "runs"))
