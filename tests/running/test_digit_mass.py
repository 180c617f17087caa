"""Per answer the digits' probability mass before renormalising (issue 22 item 8): stored
with each record, read back as a column, its per-aspect mean in the statistics; the manifest
says which probabilities rating_probs are (vLLM's logprobs_mode)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import polars as pl

from tests.helpers import ScriptedEngine, make_dataset, runner_for
from vlmrate.runfolder.store import read_manifest, read_ratings


class _WithMass(ScriptedEngine):
    async def rate(self, requests):  # type: ignore[no-untyped-def,override]
        async for result in super().rate(requests):
            digit = 1 + result.request.seed % 9
            result.rating_probs = [1.0 if r == digit else 0.0 for r in range(1, 10)]
            result.digit_mass = 0.25 + 0.5 * (result.request.repeat % 2)
            yield result


def test_digit_mass_is_stored_and_logprobs_mode_recorded(tmp_path: Path) -> None:
    make_dataset(tmp_path, 2)
    final = asyncio.run(runner_for(tmp_path, _WithMass(), logprobs=True).run())
    assert final.status == "done"
    frame = read_ratings(tmp_path / "runs/r")
    assert frame.schema["digit_mass"] == pl.Float64
    expected = {1: 0.75, 2: 0.25}
    for row in frame.iter_rows(named=True):
        assert row["digit_mass"] == expected[row["repeat"]]
    sampling = read_manifest(tmp_path / "runs/r")["sampling"]
    assert sampling["logprobs"] is True and sampling["logprobs_mode"] == "raw_logprobs"
    # a run without logprobs stores none
    (tmp_path / "b").mkdir()
    make_dataset(tmp_path / "b", 1)
    asyncio.run(runner_for(tmp_path / "b", ScriptedEngine()).run())
    assert read_ratings(tmp_path / "b/runs/r")["digit_mass"].null_count() == 6
