"""The cache: speech, leveled clips and measured values on disk, checked as they are read.

Audio is stored under the hash of its own bytes (content-addressed: an entry never changes once
written, so builds sharing the cache can never swap a clip under each other). Everything else is
a small value under a key made from the content hashes and settings it was derived from. Every
file carries a checksum, and writes are atomic: a missing, truncated or damaged entry is
discarded and made again, never played. (A build hashes an audio file once: read again
unchanged, the same file is trusted.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import numpy as np
import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import files
from .errors import CacheError, OutputError
from .pcm import SAMPLE_RATE, Samples

M = TypeVar("M", bound=BaseModel)

# Bump when what is stored, or how a clip is processed before storing, changes.
FORMAT = 7
MAGIC = b"PSOAS\x00c\x07"
AUDIO, VALUE = b"A", b"V"
HEADER = len(MAGIC) + 1 + 32  # magic, kind, sha256 of the body
RATE_BYTES = 4
MAX_VALUE_BYTES = 1 << 20  # values are a few hundred bytes: anything bigger is not ours


def default_cache_dir() -> Path:
    override = os.environ.get("PSOAS_AUDIO_CACHE")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("psoas-audio"))


ENTRY_NAME = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Usage:
    entries: int
    bytes: int


@dataclass(frozen=True)
class AudioRef:
    """A stored clip: the hash of its bytes (its name in the cache) and its length in samples."""

    digest: str
    length: int


class ClipEntry(BaseModel):
    """A keyed clip (a spoken phrase, a leveled clip): which stored audio it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    audio: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    length: Annotated[int, Field(ge=1)]


class Cache:
    """One folder of checksummed entries; safe to share between builds running at once."""

    def __init__(self, folder: Path | None = None, notice: Callable[[str], None] | None = None):
        self.folder = folder or default_cache_dir()
        self.notice = notice or (lambda message: None)
        self.damaged = 0
        self._swept = False
        # Audio entries this process wrote or checked, as the file system had them then: an
        # entry is never changed in place (it is replaced by a rename), so the same file, of
        # the same size and time, is read again without hashing it again. Leveling reads each
        # clip five times; hashing every read was a tenth of a cold build's leveling.
        self._checked: dict[Path, tuple[int, int, int, int, int]] = {}

    @staticmethod
    def key(**fields: object) -> str:
        """A key for a derived value: every input's content hash and every setting that matters."""
        fields |= {"format": FORMAT, "sample_rate": SAMPLE_RATE}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    # -- what is in it -------------------------------------------------------------------------

    def usage(self) -> Usage:
        """How many entries the cache holds, and their bytes."""
        sizes = [info.st_size for _, info in self._entries()]
        return Usage(len(sizes), sum(sizes))

    def prune(self, unused_days: float | None = None) -> Usage:
        """Remove the entries not read or written for `unused_days` (all of them for None);
        what was removed. Only entries are touched: nothing else in the folder is ours.

        "Read" is as the file system keeps it (with relatime, to within a day). A build
        running meanwhile finds a removed entry missing and makes it again."""
        cutoff = None if unused_days is None else time.time() - unused_days * 86400
        removed = Usage(0, 0)
        for path, info in self._entries():
            if cutoff is None or max(info.st_atime, info.st_mtime) < cutoff:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed = Usage(removed.entries + 1, removed.bytes + info.st_size)
        return removed

    def _entries(self) -> Iterator[tuple[Path, os.stat_result]]:
        """Every entry file: {audio,values}/ab/abcd... (64 hex digits), regular files only."""
        for kind in ("audio", "values"):
            with contextlib.suppress(OSError):
                for shard in sorted((self.folder / kind).iterdir()):
                    if len(shard.name) != 2 or shard.is_symlink() or not shard.is_dir():
                        continue
                    for path in shard.iterdir():
                        info = path.lstat()
                        if ENTRY_NAME.fullmatch(path.name) and stat.S_ISREG(info.st_mode):
                            yield path, info

    # -- audio, by content ---------------------------------------------------------------------

    def save_audio(self, samples: Samples) -> AudioRef:
        body = SAMPLE_RATE.to_bytes(RATE_BYTES, "little") + samples.astype("<i2").tobytes()
        digest = hashlib.sha256(body).hexdigest()
        path = self._path("audio", digest)
        self._write(path, AUDIO, body, digest)
        with contextlib.suppress(OSError):
            self._checked[path] = _identity(path.stat(follow_symlinks=False))
        return AudioRef(digest, len(samples))

    def load_audio(self, ref: AudioRef) -> Samples | None:
        """The clip, or None if it is missing or damaged (a damaged one is discarded)."""
        path = self._path("audio", ref.digest)
        size = HEADER + RATE_BYTES + 2 * ref.length
        damaged = self.damaged
        read = self._read(path, AUDIO, size, expected_digest=ref.digest)
        if read is None:
            if self.damaged == damaged:  # every ref comes from an entry that named it: lost
                self.damaged += 1
                self.notice(f"the cache had lost a clip ({ref.digest[:12]}); it was made again")
            return None
        body, opened = read
        rate = int.from_bytes(body[:RATE_BYTES], "little")
        if rate != SAMPLE_RATE or len(body) != RATE_BYTES + 2 * ref.length:
            self._discard(path, "audio of the wrong rate or length", opened)
            return None
        samples: Samples = np.frombuffer(body, dtype="<i2", offset=RATE_BYTES)
        return samples

    # -- clips, by key: a value naming stored audio --------------------------------------------

    def save_clip(self, key: str, samples: Samples) -> AudioRef:
        ref = self.save_audio(samples)
        self.save_value(key, ClipEntry(audio=ref.digest, length=ref.length))
        return ref

    def load_clip(self, key: str) -> tuple[AudioRef, Samples] | None:
        """The clip stored under key, whole, or None (then it is to be made again)."""
        entry = self.load_value(key, ClipEntry)
        if entry is None:
            return None
        ref = AudioRef(entry.audio, entry.length)
        samples = self.load_audio(ref)
        return None if samples is None else (ref, samples)

    # -- values, by key ------------------------------------------------------------------------

    def save_value(self, key: str, value: BaseModel) -> None:
        body = value.model_dump_json().encode()
        self._write(self._path("values", key), VALUE, body, hashlib.sha256(body).hexdigest())

    def load_value(self, key: str, model: type[M]) -> M | None:
        """The value, or None if it is missing, damaged or of another shape (then discarded)."""
        path = self._path("values", key)
        read = self._read(path, VALUE, MAX_VALUE_BYTES)
        if read is None:
            return None
        try:
            return model.model_validate_json(read[0])
        except ValidationError:
            self._discard(path, "a value of the wrong shape", read[1])
            return None

    # -- files -----------------------------------------------------------------------------------

    def _path(self, kind: str, name: str) -> Path:
        return self.folder / kind / name[:2] / name

    def _read(
        self, path: Path, kind: bytes, size: int, expected_digest: str | None = None
    ) -> tuple[bytes, os.stat_result] | None:
        """The entry's body if it is a regular file of the right size whose checksum holds
        (with what was opened), else None; anything else standing there is discarded."""
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            return None
        except OSError:  # a symlink (O_NOFOLLOW), or unreadable
            if path.is_symlink() or path.exists():
                self._discard(path, "something other than an entry", None)
            return None
        opened = os.fstat(fd)
        wrong_size = opened.st_size > size if kind == VALUE else opened.st_size != size
        if not stat.S_ISREG(opened.st_mode) or wrong_size:  # a FIFO, a folder, the wrong size
            os.close(fd)
            self._discard(path, "an entry of the wrong kind or size", opened)
            return None
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(size + 1)
        body = data[HEADER:]
        stored = data[len(MAGIC) + 1 : HEADER].hex()
        checked = kind == AUDIO and self._checked.get(path) == _identity(opened)
        if (
            len(data) < HEADER
            or not data.startswith(MAGIC)
            or data[len(MAGIC) : len(MAGIC) + 1] != kind
            or (not checked and hashlib.sha256(body).hexdigest() != stored)
            or (expected_digest is not None and stored != expected_digest)
        ):
            self._checked.pop(path, None)
            self._discard(path, "a damaged entry", opened)
            return None
        if kind == AUDIO:
            self._checked[path] = _identity(opened)
        return body, opened

    def _discard(self, path: Path, what: str, opened: os.stat_result | None) -> None:
        """Remove a bad entry, unless another build has already replaced it with a good one."""
        self.damaged += 1
        try:
            now = path.lstat()
            if opened is None or (now.st_ino, now.st_mtime_ns) == (
                opened.st_ino,
                opened.st_mtime_ns,
            ):
                _remove(path, now)
        except OSError:
            pass  # already gone, or not ours to remove: either way it is not used
        self.notice(f"the cache had {what} ({path.name[:12]}); it was discarded and made again")

    def _make_folder(self, folder: Path) -> None:
        """folder, made; inside the cache, whatever stands in its way is discarded first."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return
        except (FileExistsError, NotADirectoryError):
            pass
        for part in reversed([folder, *folder.parents]):
            if self.folder in part.parents and (part.is_symlink() or part.is_file()):
                self._discard(part, "a file where a folder belongs", None)
        folder.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def scratch(self, extension: str) -> Iterator[Path]:
        """A temporary file in the cache's own folder (an engine's WAV before it is a clip)."""
        with self._writing(), files.scratch(self._temp_folder(), "scratch", extension) as path:
            yield path

    def _write(self, path: Path, kind: bytes, body: bytes, digest: str) -> None:
        with self._writing():
            self._make_folder(path.parent)
            if path.is_dir() and not path.is_symlink():  # a rename cannot replace a folder
                self._discard(path, "a folder where an entry belongs", None)
            with files.staged(path, self._temp_folder(), durable=False) as staged:
                staged.path.write_bytes(MAGIC + kind + bytes.fromhex(digest) + body)
                staged.commit()

    def _temp_folder(self) -> Path:
        folder = self.folder / "tmp"
        self._make_folder(folder)
        if not self._swept:
            files.sweep(folder)  # leftovers of killed builds
            self._swept = True
        return folder

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except (OSError, OutputError) as exc:
            reason = str(exc)
            if isinstance(exc, OSError):
                reason = f"{exc.strerror}: {exc.filename}" if exc.filename else str(exc.strerror)
            raise CacheError(
                f"cannot write the cache in {self.folder}: {reason}; "
                "set PSOAS_AUDIO_CACHE to a writable folder"
            ) from None


def _identity(info: os.stat_result) -> tuple[int, int, int, int, int]:
    """What changes when a file is replaced or written to: device, inode, size, and the
    modification and change times (a write moves both; putting the modification time back,
    as `touch -r` does, moves the change time again). Not seen: a write through a shared
    memory map to pages already dirtied, whose times move only when the kernel flushes them."""
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


def _remove(path: Path, info: os.stat_result) -> None:
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()
