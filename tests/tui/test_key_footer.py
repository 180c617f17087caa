"""KeyFooter: rebuilt when the keys it shows change (focus in the filter line, back), not on
a bindings signal that leaves them as they are (a progress tick's refresh_bindings)."""

from __future__ import annotations

from typing import Any

from textual.widgets._footer import FooterKey

from tests.tui.conftest import OpenedApp, settle
from vlmrate.tui.widgets.key_footer import KeyFooter


def _keys(footer: KeyFooter) -> list[str]:
    return [f"{k.key_display} {k.description}".strip() for k in footer.query(FooterKey)]


def _count_rebuilds(footer: KeyFooter) -> list[int]:
    rebuilds = [0]
    recompose = footer.recompose

    async def counted() -> Any:
        rebuilds[0] += 1
        return await recompose()

    footer.recompose = counted  # type: ignore[method-assign]
    return rebuilds


async def test_rebuilt_only_when_its_keys_change(results_app: OpenedApp) -> None:
    async with results_app() as (pilot, results):
        footer = results.query_one(KeyFooter)
        shown = _keys(footer)
        assert any("Filter" in k for k in shown) and any("Sort" in k for k in shown)
        rebuilds = _count_rebuilds(footer)
        for _ in range(5):  # signals that change nothing (a Job screen's tick): no rebuild
            results.refresh_bindings()
            await pilot.pause()
        assert rebuilds[0] == 0 and _keys(footer) == shown
        await pilot.press("slash")  # the filter line takes the keys: "/ Filter  esc Back"
        await settle(pilot)
        assert rebuilds[0] == 1
        in_filter = _keys(footer)
        assert in_filter != shown and not any("Sort" in k for k in in_filter)
        await pilot.press("escape")
        await settle(pilot)
        assert rebuilds[0] == 2 and _keys(footer) == shown
