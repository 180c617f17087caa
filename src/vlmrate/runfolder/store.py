"""The run folder: manifest.json, ratings.jsonl, human.parquet, review.json.

ratings.jsonl is append-only: one JSON line per finished (image_id, aspect, repeat),
flushed as it is written. A torn last line (a crash mid-write) is ignored by readers
and moved aside (to ratings.torn) by the next writer; complete lines are never
rewritten. A lock file keeps a second writer out of a run folder. A key whose record
is an engine error is tried again on resume; its later record supersedes the error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import io
import json
import os
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import polars as pl

from vlmrate.errors import UserError, clip
from vlmrate.inputs.dataset import HUMAN_SCHEMA
from vlmrate.redact import DEFAULT_API_KEY_ENV, Redactor
from vlmrate.runfolder.files import (
    check_run_files,
    now_iso,
    open_run_fd,
    open_run_file,
    write_bytes_atomic,
    write_text_atomic,
)
from vlmrate.runfolder.parse_health import unparsed_warning
from vlmrate.runfolder.settings import is_run_name, run_dir_for
from vlmrate.runfolder.shapes import (
    MAX_REPEATS,
    check_manifest,
    json_kind,
    strict_record,
)

MANIFEST = "manifest.json"
RATINGS = "ratings.jsonl"
HUMAN = "human.parquet"
REVIEW = "review.json"
LOCK = ".lock"
TORN = "ratings.torn"
LOG = "run.log"
HEARTBEAT = ".progress.json"  # the running process's phase, for watchers (running/watch.py)
#: Every file a run's writers open in its folder (checked before a run starts or resumes).
WRITTEN_FILES = (MANIFEST, RATINGS, HUMAN, REVIEW, LOCK, TORN, LOG, HEARTBEAT)

Key = tuple[str, str, int]

RATINGS_SCHEMA: dict[str, Any] = {
    "image_id": pl.String,
    "aspect": pl.String,
    "repeat": pl.Int64,
    "seed": pl.Int64,
    "rating": pl.Int64,
    "raw_rating": pl.Int64,  # the answer as given (before a reversed scale is mapped back)
    "reason": pl.String,
    "raw": pl.String,
    "parse_error": pl.String,
    "finish_reason": pl.String,
    "prompt_tokens": pl.Int64,
    "output_tokens": pl.Int64,
    "latency_s": pl.Float64,
    "expected_rating": pl.Float64,
    "rating_probs": pl.List(pl.Float64),
    "engine_error": pl.String,
    "server": pl.String,  # the base URL that answered (openai engine); null in-process
    "time": pl.String,
    # the digits' probability mass at the rating position before rating_probs were
    # renormalised over them (--logprobs); null in records written before issue 22
    "digit_mass": pl.Float64,
}
RECORD_FIELDS = tuple(RATINGS_SCHEMA)
STATUSES = ("running", "done", "failed", "imported", "cancelled")


def repeat_seed(base_seed: int, image_id: str, aspect: str, repeat: int) -> int:
    """The seed of one (image, aspect, repeat): stable, independent of run order."""
    text = f"{base_seed}\x1f{image_id}\x1f{aspect}\x1f{repeat}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "big") & 0x7FFFFFFF


def _has_manifest(folder: Path) -> bool:
    try:
        return (folder / MANIFEST).is_file()
    except OSError:  # e.g. a name too long for the file system
        return False


def resolve_run(run: str | Path, runs_dir: Path = Path("runs")) -> Path:
    """A run folder from a path, or from a run name (the run-name rule) under runs_dir."""
    if _has_manifest(Path(run)):
        return Path(run)
    name = str(run)
    if is_run_name(name) and _has_manifest(run_dir_for(runs_dir, name)):
        return run_dir_for(runs_dir, name)
    if len(name) <= 60:
        raise UserError(f"run {name!r} not found (no {MANIFEST} in {name} or "
                        f"{runs_dir}/{name})")
    raise UserError(f"run {clip(name, 60)} not found (no {MANIFEST} in that folder or under "
                    f"{runs_dir})")


def run_name_of(run_dir: Path, manifest: dict) -> str:
    """The run's name: the manifest's when it follows the run-name rule, else the folder's
    (files named after the run, such as the workbook, stay inside the run folder)."""
    name = manifest.get("name")
    if is_run_name(name):
        return name
    return os.path.basename(os.path.normpath(Path(run_dir).absolute())) or "run"


def write_heartbeat(run_dir: Path, beat: dict) -> None:
    """The running process's phase and clocks, replaced atomically (no fsync: a lost
    heartbeat only costs a watcher a second)."""
    path = Path(run_dir) / HEARTBEAT
    tmp = path.with_name(f".{path.name}.tmp")
    with open_run_file(tmp, "w") as handle:
        handle.write(json.dumps(beat))
    os.replace(tmp, path)


def read_manifest(run_dir: Path) -> dict:
    """manifest.json as written (a JSON object, else a UserError naming the file)."""
    path = Path(run_dir) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)[:120]
        raise UserError(f"{path}: unreadable ({reason})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a run manifest ({json_kind(data)}, not an object)")
    return data


def load_manifest(run_dir: Path) -> tuple[dict, list[str]]:
    """The manifest with every field a reader uses of the right type, and what was set aside
    (see runfolder.shapes.check_manifest)."""
    return check_manifest(read_manifest(run_dir))


def write_manifest(run_dir: Path, manifest: dict) -> None:
    manifest = {**manifest, "updated": now_iso()}
    write_text_atomic(run_dir / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))


def update_manifest(run_dir: Path, **changes: Any) -> dict:
    manifest = read_manifest(run_dir)
    manifest.update(changes)
    write_manifest(run_dir, manifest)
    return manifest


def _complete_bytes(path: Path) -> bytes:
    """The file's bytes up to and including its last newline (a torn tail is dropped)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b""
    end = data.rfind(b"\n")
    return data[: end + 1] if end >= 0 else b""


def has_records(run_dir: Path) -> bool:
    """Whether ratings.jsonl holds a complete line (read up to its first newline)."""
    try:
        with open(Path(run_dir) / RATINGS, "rb") as handle:
            while chunk := handle.read(1 << 16):
                if b"\n" in chunk:
                    return True
    except OSError:
        return False
    return False


def iter_records(run_dir: Path) -> list[dict]:
    """Every complete record of ratings.jsonl of the right shape, in file order."""
    data = _complete_bytes(Path(run_dir) / RATINGS)
    records = (strict_record(line) for line in data.split(b"\n") if line.strip())
    return [record for record in records if record is not None]


def finished_keys(run_dir: Path) -> set[Key]:
    """Keys whose latest record is an answer (an engine or image error is redone on resume;
    an answer that could not be parsed is an answer and is kept)."""
    return finished_and_unparsed(run_dir)[0]


def finished_and_unparsed(run_dir: Path) -> tuple[set[Key], set[Key]]:
    """finished_keys, and those of them whose answer could not be parsed (a resume's
    counters start from them: the parse failures on disk)."""
    answered = read_ratings(run_dir).filter(pl.col("engine_error").is_null())
    keys = ["image_id", "aspect", "repeat"]
    unparsed = answered.filter(pl.col("parse_error").is_not_null())
    return set(answered.select(keys).iter_rows()), set(unparsed.select(keys).iter_rows())


class RunLock:
    """An exclusive lock on a run folder, held by one process (the one that writes it)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        handle = open_run_file(self.run_dir / LOCK, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise UserError(
                f"run {self.run_dir} is in use by another vlmrate process"
                + (f" ({holder})" if holder else "")
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {now_iso()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def is_locked(run_dir: Path) -> bool:
    """Whether a process holds the run's lock right now (i.e. the run is really going on)."""
    try:
        handle = open(Path(run_dir) / LOCK)  # noqa: SIM115 - closed below
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False


class RatingsWriter:
    """Appends records to ratings.jsonl; takes the run's lock unless the caller holds it."""

    def __init__(self, run_dir: Path, fsync_every_s: float = 0.5, *, lock: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self._fsync_every_s = fsync_every_s
        self._last_sync = time.monotonic()
        self._lock = RunLock(self.run_dir) if lock else None
        self._fd: int | None = None

    def __enter__(self) -> RatingsWriter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self._lock is not None:
            self._lock.acquire()
        check_run_files(self.run_dir, WRITTEN_FILES)
        self._set_aside_torn_tail()
        # Unbuffered: a record is in the file (or torn, at worst) once append() returns.
        self._fd = open_run_fd(self.run_dir / RATINGS, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def _set_aside_torn_tail(self) -> None:
        path = self.run_dir / RATINGS
        if not path.exists():
            return
        size = path.stat().st_size
        complete = len(_complete_bytes(path))
        if complete == size:
            return
        with open(path, "rb") as handle:
            handle.seek(complete)
            tail = handle.read()
        with open_run_file(self.run_dir / TORN, "ab") as torn:
            torn.write(tail + b"\n")
        with open_run_file(path, "r+b") as handle:
            handle.truncate(complete)

    def append(self, record: dict) -> None:
        if self._fd is None:
            raise RuntimeError("RatingsWriter is not open")
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        while data:
            written = os.write(self._fd, data)
            data = data[written:]
        if time.monotonic() - self._last_sync >= self._fsync_every_s:
            os.fsync(self._fd)
            self._last_sync = time.monotonic()

    def append_many(self, records: list[dict]) -> None:
        for record in records:
            self.append(record)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None
        if self._lock is not None:
            self._lock.release()


def write_human(run_dir: Path, human: pl.DataFrame) -> None:
    frame = human.cast(HUMAN_SCHEMA)
    write_bytes_atomic(Path(run_dir) / HUMAN, frame.write_parquet)


def read_human(run_dir: Path, problems: list[str] | None = None) -> pl.DataFrame:
    """human.parquet (HUMAN_SCHEMA); an unreadable file is no human ratings, named in
    problems."""
    path = Path(run_dir) / HUMAN
    if not path.is_file():
        return pl.DataFrame(schema=HUMAN_SCHEMA)
    try:
        frame = pl.read_parquet(path).select(list(HUMAN_SCHEMA)).cast(HUMAN_SCHEMA)
    except Exception as exc:  # polars raises several kinds for a broken or foreign file
        if problems is not None:
            problems.append(f"{HUMAN}: unreadable, no human ratings used "
                            f"({type(exc).__name__})")
        return pl.DataFrame(schema=HUMAN_SCHEMA)
    return frame.filter(pl.col("image_id").is_not_null() & pl.col("aspect").is_not_null())


def _read_ndjson(data: bytes) -> pl.DataFrame:
    return pl.read_ndjson(io.BytesIO(data), schema=RATINGS_SCHEMA)


def _parse_records(data: bytes) -> tuple[pl.DataFrame, int]:
    """Complete JSON lines as a frame, and how many lines were set aside.

    The whole block is parsed by Polars at once; when a line spoils it (not a JSON object,
    a field of the wrong type), the block is halved until the bad lines are alone, so every
    good line is read the same way whatever its neighbours. A lone line Polars refuses is
    still taken if it has the runner's shape exactly (e.g. NaN in a float field).
    """
    try:
        frame = _read_ndjson(data)
        broken = 0
    except Exception:  # polars: ComputeError, SchemaError ...
        lines = data.split(b"\n")
        parts: list[tuple[int, pl.DataFrame]] = []
        broken = 0
        pending = [(0, len(lines))]
        while pending:
            lo, hi = pending.pop()
            chunk = b"\n".join(lines[lo:hi])
            if not chunk.strip():
                continue
            try:
                parts.append((lo, _read_ndjson(chunk)))
                continue
            except Exception:
                pass
            if hi - lo > 1:
                mid = (lo + hi) // 2
                pending += [(mid, hi), (lo, mid)]
                continue
            record = strict_record(lines[lo])
            if record is None:
                broken += 1
            else:
                parts.append((lo, pl.DataFrame([{k: record.get(k) for k in RECORD_FIELDS}],
                                               schema=RATINGS_SCHEMA)))
        parts.sort(key=lambda part: part[0])
        frame = (pl.concat([p for _, p in parts]) if parts
                 else pl.DataFrame(schema=RATINGS_SCHEMA))
    keyed = frame.filter(
        pl.col("image_id").is_not_null() & (pl.col("image_id") != "")
        & pl.col("aspect").is_not_null() & (pl.col("aspect") != "")
        & pl.col("repeat").is_not_null() & (pl.col("repeat") >= 1))
    return keyed, broken + frame.height - keyed.height


# ratings.jsonl is the record; a Parquet copy of its first N bytes makes reloading a large
# run fast. Its name holds N and a checksum of the 4 KiB before N, so a replaced or
# rewritten ratings.jsonl is never read through a stale copy, and the number of lines in
# those N bytes that were set aside (so that they are still counted when read through it).
_CACHE_GLOB = ".ratings-cache-*.parquet"
_CACHE_MIN_NEW_BYTES = 1 << 20


def _cache_tag(handle: IO[bytes], covered: int) -> str:
    handle.seek(max(0, covered - 4096))
    return f"{covered}-{zlib.crc32(handle.read(min(covered, 4096))):08x}"


def _find_cache(run_dir: Path, handle: IO[bytes], size: int) -> tuple[Path | None, int, int]:
    """(cache file, bytes it covers, lines it set aside), or (None, 0, 0)."""
    for path in sorted(run_dir.glob(_CACHE_GLOB)):
        parts = path.name[len(".ratings-cache-"):-len(".parquet")].split("-")
        if len(parts) != 3 or not (parts[0] + parts[2]).isascii() or not parts[0].isdigit() \
                or not parts[2].isdigit():
            continue
        covered = int(parts[0])
        if 0 < covered <= size and _cache_tag(handle, covered) == f"{parts[0]}-{parts[1]}":
            return path, covered, int(parts[2])
    return None, 0, 0


def _write_cache(run_dir: Path, frame: pl.DataFrame, tag: str, broken: int) -> None:
    name = f".ratings-cache-{tag}-{broken}.parquet"
    with contextlib.suppress(OSError, UserError):  # a cache that cannot be written: none
        tmp = run_dir / f".ratings-cache-{tag}.tmp"
        with open_run_file(tmp, "wb") as handle:
            frame.write_parquet(handle, compression="lz4")
        os.replace(tmp, run_dir / name)
        for old in run_dir.glob(_CACHE_GLOB):
            if old.name != name:
                old.unlink(missing_ok=True)


def read_ratings(run_dir: Path) -> pl.DataFrame:
    """ratings.jsonl as a frame (RATINGS_SCHEMA); the last record of a key wins (an error
    record is followed by the answer of its retry on resume).

    A torn last line is ignored, and so is a line that is not a record (see
    read_ratings_counted). Large runs are read through a Parquet copy of what was already
    read once, so only the lines appended since are parsed.
    """
    return read_ratings_counted(run_dir)[0]


def read_ratings_counted(run_dir: Path) -> tuple[pl.DataFrame, int]:
    """read_ratings' frame and the number of complete lines set aside (not a JSON object, a
    field of the wrong type, no image_id/aspect/repeat)."""
    run_dir = Path(run_dir)
    try:
        handle = open(run_dir / RATINGS, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return pl.DataFrame(schema=RATINGS_SCHEMA), 0
    except OSError as exc:
        raise UserError(f"{run_dir / RATINGS}: cannot read ({exc.strerror})") from None
    with handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            cache, covered, broken = _find_cache(run_dir, handle, size)
            handle.seek(covered)
            tail = handle.read(size - covered)
        except OSError as exc:
            raise UserError(f"{run_dir / RATINGS}: cannot read ({exc.strerror})") from None
        tail = tail[: tail.rfind(b"\n") + 1]
        parts = []
        if cache is not None:
            try:
                parts.append(pl.read_parquet(cache).cast(RATINGS_SCHEMA))
            except Exception:  # an unreadable copy: parse everything again
                handle.seek(0)
                tail = handle.read(size)
                tail, covered, broken, parts = tail[: tail.rfind(b"\n") + 1], 0, 0, []
        if tail.strip():
            frame, tail_broken = _parse_records(tail)
            parts.append(frame)
            broken += tail_broken
        frame = pl.concat(parts) if parts else pl.DataFrame(schema=RATINGS_SCHEMA)
        if len(tail) >= _CACHE_MIN_NEW_BYTES:
            _write_cache(run_dir, frame, _cache_tag(handle, covered + len(tail)), broken)
    frame = frame.unique(subset=["image_id", "aspect", "repeat"], keep="last",
                         maintain_order=True)
    return frame, broken


# --- review.json: flags and notes per (image_id, aspect); vlmrate.runfolder.review owns the format ---

def read_review_checked(run_dir: Path) -> tuple[dict[str, dict[str, dict]], list[str]]:
    """read_review's cases and what was set aside (unreadable file, entries of the wrong
    shape): vlmrate.runfolder.review reads and checks the file."""
    from vlmrate.runfolder.review import read_review_file

    review = read_review_file(run_dir)
    return review.cases, review.problems


def read_review(run_dir: Path) -> dict[str, dict[str, dict]]:
    """{image_id: {aspect: {"category", "flagged", "note", "reviewer", "time"}}}; entries of
    the wrong shape are left out (vlmrate.runfolder.review.parse_review)."""
    from vlmrate.runfolder.review import read_review_file

    return read_review_file(run_dir).cases


def save_review(run_dir: Path, image_id: str, aspect: str, *, flagged: bool | None = None,
                note: str | None = None, category: str | None = None) -> dict:
    """Set the flag (a category; ``flagged=True`` alone: the first default category) and/or
    the note of one case and write review.json at once (atomically)."""
    from vlmrate.runfolder.review import DEFAULT_CATEGORIES, set_case

    change: dict[str, Any] = {}
    if category is not None or flagged is not None:
        change["category"] = category if category is not None else (
            DEFAULT_CATEGORIES[0] if flagged else None)
    if note is not None:
        change["note"] = note
    return set_case(run_dir, image_id, aspect, **change)


def review_frame(run_dir: Path) -> pl.DataFrame:
    from vlmrate.runfolder.review import review_rows

    schema = {"image_id": pl.String, "aspect": pl.String, "flagged": pl.Boolean,
              "category": pl.String, "note": pl.String, "reviewer": pl.String,
              "time": pl.String}
    rows = [{**row, "flagged": row["category"] is not None}
            for row in review_rows(read_review(run_dir))]
    return pl.DataFrame(rows, schema=schema)


# --- a whole run ----------------------------------------------------------------------------

@dataclass
class LoadedRun:
    """Everything the statistics, the TUI and the exporter read from a run folder.

    The manifest is the checked one (see runfolder.shapes.check_manifest); problems names what
    the readers set aside (broken lines, fields of the wrong type), one short text each.
    """

    name: str
    path: Path
    manifest: dict
    aspects: list[str]
    ratings: pl.DataFrame
    human: pl.DataFrame
    review: dict[str, dict[str, dict]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The manifest's status, "interrupted" for a "running" one nobody runs (killed)."""
        return run_activity(self.path, self.manifest)

    @property
    def scale(self) -> tuple[int, int]:
        return manifest_scale(self.manifest)

    @property
    def partial(self) -> tuple[int, int] | None:
        """(answers, planned) while the run has fewer answers than planned (running,
        cancelled, interrupted, failed); None for a complete or imported run."""
        total = self.manifest.get("total_jobs")
        if self.status == "imported" or not isinstance(total, int) or isinstance(total, bool):
            return None
        answers = self.ratings.height
        return (answers, total) if answers < total else None

    @property
    def repeats(self) -> int:
        return int(self.manifest.get("sampling", {}).get("repeats")
                   or (self.ratings["repeat"].max() or 0))


def manifest_aspects(manifest: dict) -> list[str]:
    """Aspect names of a checked manifest (load_manifest)."""
    return [a["name"] for a in manifest.get("study", {}).get("aspects", [])]


def manifest_scale(manifest: dict) -> tuple[int, int]:
    """(min, max) of a checked manifest's rating scale."""
    scale = manifest.get("study", {}).get("scale", {})
    return int(scale.get("min", 1)), int(scale.get("max", 9))


def _in_plan(ratings: pl.DataFrame, manifest: dict) -> tuple[pl.DataFrame, int]:
    """Records whose rating lies on the run's scale and whose repeat is one the run has;
    the others cannot come from this run and would distort every statistic. A non-finite
    expected rating (NaN in a hand-edited line) is no expected rating."""
    lo, hi = manifest_scale(manifest)
    repeats = manifest.get("sampling", {}).get("repeats") or MAX_REPEATS
    kept = ratings.filter(
        (pl.col("rating").is_null() | pl.col("rating").is_between(lo, hi))
        & (pl.col("repeat") <= repeats))
    kept = kept.with_columns(
        pl.when(pl.col("expected_rating").is_finite()).then(pl.col("expected_rating"))
        .alias("expected_rating"))
    return kept, ratings.height - kept.height


def _without_secrets(manifest: dict, ratings: pl.DataFrame) -> tuple[dict, pl.DataFrame]:
    """A run written before redaction (or by hand) may hold a URL's password or the API
    key: readers never show them (workbook, CSV, TUI). New runs are written without."""
    engine = manifest.get("engine") or {}
    options = engine.get("options") if isinstance(engine.get("options"), dict) else {}
    key_env = options.get("api_key_env")
    urls = engine.get("base_urls") if isinstance(engine.get("base_urls"), list) else []
    redactor = Redactor.for_run(
        [u for u in [engine.get("base_url"), *urls] if isinstance(u, str)],
        key_env if isinstance(key_env, str) and key_env else DEFAULT_API_KEY_ENV)
    return redactor.value(manifest), redactor.columns(ratings, ["engine_error"])


def load_run(run: str | Path, runs_dir: Path = Path("runs")) -> LoadedRun:
    run_dir = resolve_run(run, runs_dir)
    manifest, manifest_problems = load_manifest(run_dir)
    problems = [f"{MANIFEST}: {p}" for p in manifest_problems]
    ratings, broken = read_ratings_counted(run_dir)
    if broken:
        problems.append(f"{RATINGS}: {broken} line{'s' if broken > 1 else ''} that "
                        f"{'are' if broken > 1 else 'is'} not a rating record skipped")
    ratings, off_plan = _in_plan(ratings, manifest)
    if off_plan:
        lo, hi = manifest_scale(manifest)
        problems.append(f"{RATINGS}: {off_plan} record{'s' if off_plan > 1 else ''} with a "
                        f"rating outside {lo}..{hi} or a repeat the run does not have skipped")
    manifest, ratings = _without_secrets(manifest, ratings)
    aspects = manifest_aspects(manifest) or ratings["aspect"].unique(maintain_order=True).to_list()
    human = read_human(run_dir, problems)
    review, review_problems = read_review_checked(run_dir)
    return LoadedRun(
        name=run_name_of(run_dir, manifest),
        path=run_dir,
        manifest=manifest,
        aspects=aspects,
        ratings=ratings,
        human=human,
        review=review,
        problems=problems + review_problems,
    )


class _LineCount:
    """Complete lines of a growing file; each ``count()`` reads only the bytes added since
    the previous one (a replaced or shrunk file is counted again)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()  # two loaders (refresh, timer) must not both add
        self.ident: tuple[int, int] | None = None
        self.offset = 0
        self.lines = 0
        self.unparsed = 0  # lines whose parse_error is a text (not null)
        self.errors = 0  # lines whose engine_error is a text
        self.bytes_read = 0

    def count(self) -> int:
        with self.lock:
            return self._count()

    def _count(self) -> int:
        try:
            with open(self.path, "rb") as handle:
                stat = os.fstat(handle.fileno())
                ident = (stat.st_dev, stat.st_ino)
                if ident != self.ident or stat.st_size < self.offset:
                    self.ident, self.offset, self.lines = ident, 0, 0
                    self.unparsed = self.errors = 0
                handle.seek(self.offset)
                data = handle.read(max(0, stat.st_size - self.offset))
        except OSError:
            self.ident, self.offset, self.lines = None, 0, 0
            self.unparsed = self.errors = 0
            return 0
        self.bytes_read += len(data)
        end = data.rfind(b"\n")
        if end >= 0:
            self.lines += data.count(b"\n", 0, end + 1)
            self.unparsed += sum(data.count(marker, 0, end + 1) for marker in _UNPARSED)
            self.errors += sum(data.count(marker, 0, end + 1) for marker in _ERRORS)
            self.offset += end + 1
        return self.lines


_line_counts: dict[Path, _LineCount] = {}
_line_counts_lock = threading.Lock()
#: A record whose parse_error is a text, as RatingsWriter and json.dumps write it.
_UNPARSED = (b'"parse_error":"', b'"parse_error": "')
_ERRORS = (b'"engine_error":"', b'"engine_error": "')


def _line_count(run_dir: Path) -> _LineCount:
    path = Path(run_dir).absolute() / RATINGS
    with _line_counts_lock:
        counter = _line_counts.get(path)
        if counter is None:
            counter = _line_counts[path] = _LineCount(path)
    return counter


def count_records(run_dir: Path) -> int:
    """Complete lines of the run's ratings.jsonl; repeated calls (the Runs list refreshing
    while a run grows) read only the new bytes."""
    return _line_count(run_dir).count()


def count_records_unparsed(run_dir: Path) -> tuple[int, int, int]:
    """(complete lines, lines with a parse failure, lines with an engine error) of the
    run's ratings.jsonl, read as count_records reads it."""
    counter = _line_count(run_dir)
    with counter.lock:
        return counter._count(), counter.unparsed, counter.errors


def run_activity(run_dir: Path, manifest: dict) -> str:
    """The status to show: a "running" manifest whose lock nobody holds is "interrupted"
    (its process ended without saying so: killed, power cut)."""
    status = manifest.get("status", "unknown")
    if status == "running" and not is_locked(run_dir):
        return "interrupted"
    return status


def list_runs(runs_dir: Path = Path("runs")) -> list[dict]:
    """A summary line per run folder, newest first: name (the folder's: unique under
    runs_dir, what `vlmrate stats NAME` takes; a copied run is its own row), path, status,
    model, dataset, progress, dates, the failure reason.

    An import being written (its temp folder, .import~*) is not a run yet.
    """
    runs: list[dict] = []
    if not Path(runs_dir).is_dir():
        return runs
    for manifest_path in Path(runs_dir).glob(f"*/{MANIFEST}"):
        run_dir = manifest_path.parent
        if run_dir.name.startswith(".import~"):
            continue
        try:
            manifest, _ = load_manifest(run_dir)
        except UserError:
            runs.append({"name": run_dir.name, "path": run_dir, "status": "unreadable",
                         "created": _folder_time(run_dir)})
            continue
        dataset = manifest.get("dataset")
        done, unparsed, errors = count_records_unparsed(run_dir)
        sampling = manifest.get("sampling") if isinstance(manifest.get("sampling"),
                                                           dict) else {}
        runs.append({
            "name": run_dir.name,
            "title": manifest.get("name", ""),
            "path": run_dir,
            "status": run_activity(run_dir, manifest),
            "model": manifest.get("model", ""),
            "dataset": dataset.get("path", "") if isinstance(dataset, dict) else "",
            "done": done,
            "unparsed": unparsed,
            "failed": unparsed + errors,  # answers written with a parse or engine error
            "repeats": sampling.get("repeats"),
            "wall_s": manifest.get("wall_s"),
            # an imported sheet's empty ratings are missing, not a model's parse failures
            "warning": "" if manifest.get("status") == "imported" else
            unparsed_warning(done, unparsed, sampling or None),
            "total": manifest.get("total_jobs"),
            "created": str(manifest.get("created") or _folder_time(run_dir)),
            "updated": manifest.get("updated", ""),
            "error": " ".join(str(manifest.get("error") or "").split()),
        })
    runs.sort(key=lambda run: run["name"])  # equal dates: by name
    runs.sort(key=lambda run: str(run.get("created") or ""), reverse=True)  # newest first
    return runs


def _folder_time(run_dir: Path) -> str:
    try:
        stamp = run_dir.stat().st_mtime
    except OSError:
        return ""
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="seconds")
