"""Files a build writes: checked before any work, staged beside their target, put in place by
one atomic rename of the finished file, so an interrupt at any moment leaves the old one whole.

A staged file is locked by the build writing it (an OS lock, released even by SIGKILL), so a
later build can tell a killed build's leftovers from those of a build still running beside it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import interrupts
from .errors import OutputError

TEMP_MARK = ".psoas-"  # in every temporary's name: .NAME.psoas-XXXXXXXX.part
TEMP_SUFFIX = ".part"
BUSY_RETRY_SECONDS = 3.0  # Windows: a file open in a player cannot be replaced until it closes
RETRY_BUSY = os.name == "nt"
UNLOCKED_LEFTOVER_SECONDS = 24 * 3600.0  # without OS locks, a day-old temporary is a leftover


@dataclass(frozen=True)
class Kind:
    """A kind of file a build writes, and how to tell one by its first bytes."""

    what: str  # "an MP3", for messages
    sniff: Callable[[bytes], bool]
    suffix: str  # what its name ends in: players go by it


def _looks_like_mp3(head: bytes) -> bool:
    """A whole ID3v2 header, or a valid MPEG audio frame header, at the start.

    Loose checks would pass text: UTF-16 starts with FF FE, and a note may start with "ID3".
    """
    if head[:3] == b"ID3":
        return (
            len(head) >= 10 and head[3] in (2, 3, 4) and head[4] == 0 and head[5] & 0x0F == 0
            and all(byte < 0x80 for byte in head[6:10])
        )  # fmt: skip
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 0b11, (head[1] >> 1) & 0b11
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0b11
    return version != 0b01 and layer != 0b00 and bitrate not in (0b0000, 0b1111) and rate != 0b11


MP3 = Kind("an MP3", _looks_like_mp3, ".mp3")
VTT = Kind(
    "a WebVTT transcript",
    lambda head: head.removeprefix(b"\xef\xbb\xbf").startswith(b"WEBVTT"),
    ".vtt",
)
LRC = Kind("an LRC lyrics file", lambda head: head.lstrip().startswith(b"["), ".lrc")
M3U = Kind(
    "an M3U playlist",
    lambda head: head.removeprefix(b"\xef\xbb\xbf").startswith(b"#EXTM3U"),
    ".m3u",
)
HTML = Kind(
    "an HTML page", lambda head: head.lstrip().lower().startswith(b"<!doctype html"), ".html"
)
RSS = Kind(
    "an RSS feed", lambda head: head.lstrip().startswith(b"<?xml") and b"<rss" in head, ".xml"
)
CHAPTERS = Kind(
    "a JSON chapters file",
    lambda head: head.lstrip().startswith(b"{") and b'"chapters"' in head,
    ".json",
)
JPEG = Kind("a JPEG image", lambda head: head.startswith(b"\xff\xd8\xff"), ".jpg")
SNIFF_BYTES = 512  # enough to find <rss after an XML declaration


def output_target(target: Path, kind: Kind = MP3, *, force: bool = False) -> Path:
    """The real file a build may replace at target (symlinks followed), or OutputError.

    Refused: folders, devices, FIFOs and sockets always; unless force, a name without the
    kind's suffix, and an existing non-empty file whose bytes are not of this kind (a
    mistyped -o must never eat a routine).
    """
    try:
        real = Path(os.path.realpath(target))
        info: os.stat_result | None = real.stat()
    except (FileNotFoundError, NotADirectoryError):
        info = None  # nothing there yet; output_folder() makes or refuses the folder
    except OSError as exc:
        raise OutputError(f"{target}: {_reason(exc)}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputError(f"{target}: is a folder; to write into it, end the path with /")
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise OutputError(
            f"{target}: not a regular file (a device, FIFO or socket); refusing to replace it"
        )
    if force:
        return real
    if target.suffix.lower() != kind.suffix:
        raise OutputError(
            f"{target}: {kind.what} would be written here, but the name does not end in "
            f"{kind.suffix} (--force writes it anyway)"
        )
    if info is not None and info.st_size:
        try:
            with real.open("rb") as handle:
                head = handle.read(SNIFF_BYTES)
        except OSError as exc:
            raise OutputError(
                f"{target}: cannot read it to check what it is: {_reason(exc)}"
            ) from None
        if not kind.sniff(head):
            raise OutputError(
                f"{target}: exists and is not {kind.what}; refusing to replace it "
                "(--force replaces it anyway)"
            )
    return real


@contextlib.contextmanager
def output_folder(folder: Path) -> Iterator[None]:
    """The folder made (with its parents) and proven writable before any work is done in it.

    Leftovers of killed builds in it are removed. Afterwards the folders this made are removed
    again if they are still empty, so a build that wrote nothing leaves nothing behind.
    """
    created = _make_folders(folder)
    try:
        sweep(folder)
        with _temporary(folder, "probe", f"cannot write in {folder}"):
            pass  # it could be made, so the build's files can be
        yield
    finally:
        for made in reversed(created):
            with contextlib.suppress(OSError):
                made.rmdir()  # only if empty


def _make_folders(folder: Path) -> list[Path]:
    missing = []
    for parent in (folder, *folder.parents):
        if parent.is_dir():
            break
        if parent.exists() or parent.is_symlink():
            raise OutputError(f"cannot create the folder {folder}: {parent} is not a folder")
        missing.append(parent)
    created = []
    try:
        for parent in reversed(missing):
            try:
                parent.mkdir()
            except FileExistsError:
                if not parent.is_dir():
                    raise
                continue  # made by a build running beside this one: not ours to remove
            created.append(parent)
    except OSError as exc:
        for made in reversed(created):
            with contextlib.suppress(OSError):
                made.rmdir()
        raise OutputError(f"cannot create the folder {folder}: {_reason(exc)}") from None
    return created


def ensure_space(folder: Path, needed: int) -> None:
    """OutputError now, before encoding, when the disk cannot hold a file of `needed` bytes."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell: the write itself will say
    if free < needed:
        raise OutputError(
            f"not enough space in {folder}: the track needs about {_megabytes(needed)}, "
            f"{_megabytes(free)} is free"
        )


class Staged:
    """A temporary file beside its target; commit() renames it over the target, once."""

    def __init__(self, path: Path, target: Path, durable: bool) -> None:
        self.path, self.target, self.durable = path, target, durable
        self.committed = False

    def commit(self) -> None:
        """Put the finished file in place: one rename, never split by an interrupt."""
        try:
            self.path.chmod(_plain_file_mode(self.target))
            if self.durable:
                with self.path.open("rb") as handle:
                    os.fsync(handle.fileno())
        except OSError as exc:
            raise OutputError(f"cannot write {self.target}: {_reason(exc)}") from None
        with interrupts.deferred():
            _replace(self.path, self.target)
            self.committed = True

    def commit_new(self) -> None:
        """Put the finished file in place only if nothing is there yet (never overwrites)."""
        try:
            self.path.chmod(_plain_file_mode(self.target))
            os.link(self.path, self.target)  # atomic, and fails if the target exists
        except FileExistsError:
            raise OutputError(f"{self.target}: already exists; refusing to replace it") from None
        except OSError as exc:
            raise OutputError(f"cannot write {self.target}: {_reason(exc)}") from None


@contextlib.contextmanager
def staged(target: Path, folder: Path | None = None, *, durable: bool = True) -> Iterator[Staged]:
    """A locked temporary for target, in `folder` (default: beside it), removed unless committed."""
    with _temporary(folder or target.parent, target.name, f"cannot write {target}") as temp:
        file = Staged(temp.path, target, durable)
        try:
            yield file
        finally:
            temp.keep = file.committed


def write_all(
    wanted: Sequence[tuple[Path, Kind, bytes]],
    *,
    force: bool = False,
    written: Callable[[Path], None] | None = None,
) -> None:
    """Several small files (a playlist, a site) staged whole, then each put in place by one
    rename, all under one hold on interrupts: an interrupt leaves all of them old or all new."""
    for path, kind, _ in wanted:
        output_target(path, kind, force=force)
    with contextlib.ExitStack() as stack:
        staged_files = []
        for path, kind, data in wanted:
            file = stack.enter_context(staged(output_target(path, kind, force=force)))
            file.path.write_bytes(data)
            staged_files.append(file)
        for path, kind, _ in wanted:
            output_target(path, kind, force=force)  # still ours to replace
        with interrupts.deferred():
            for (path, _, _), file in zip(wanted, staged_files, strict=True):
                file.commit()
                if written:
                    written(path)


@contextlib.contextmanager
def staging_folder(parent: Path) -> Iterator[Path]:
    """A locked private folder in parent, for files that all move into place at the end
    (move_into_place); removed afterwards, and by a later sweep() if this process is killed."""
    with interrupts.deferred():
        for _ in range(100):
            try:
                path = Path(tempfile.mkdtemp(dir=parent, prefix=f".staging{TEMP_MARK}",
                                             suffix=TEMP_SUFFIX))  # fmt: skip
                lock = os.open(path, os.O_RDONLY)
            except OSError as exc:
                raise OutputError(f"cannot write in {parent}: {_reason(exc)}") from None
            if _lock(lock) and _is_file_at(lock, path):
                break
            os.close(lock)  # a sweeper took it: it removes it, we make another
        else:
            raise OutputError(f"cannot write in {parent}: could not make a staging folder")
    try:
        yield path
    finally:
        with interrupts.deferred():
            shutil.rmtree(path, ignore_errors=True)
            os.close(lock)


def move_into_place(source: Path, target: Path) -> None:
    """A finished file from a staging folder over its target, in one rename (same disk)."""
    try:
        source.chmod(_plain_file_mode(target))
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {_reason(exc)}") from None
    _replace(source, target)


@contextlib.contextmanager
def scratch(folder: Path, name: str, extension: str) -> Iterator[Path]:
    """A locked temporary file (ending in extension) for a child process to write into; removed
    afterwards, and by a later sweep() if this process is killed first."""
    with _temporary(folder, name, f"cannot write in {folder}", extension) as temp:
        yield temp.path


class _Temporary:
    def __init__(self, path: Path) -> None:
        self.path, self.keep = path, False


@contextlib.contextmanager
def _temporary(folder: Path, name: str, failure: str, extension: str = "") -> Iterator[_Temporary]:
    """A locked temporary, made and removed with interrupts held back: an interrupt can never
    fall between making it and being ready to remove it, nor cut its removal short."""
    temp: _Temporary | None = None
    lock = -1
    try:
        with interrupts.deferred():
            try:
                path, lock = _create_temp(folder, name, extension)
            except OSError as exc:
                raise OutputError(f"{failure}: {_reason(exc)}") from None
            temp = _Temporary(path)
        yield temp
    finally:
        with interrupts.deferred():
            if temp is not None and not temp.keep:
                temp.path.unlink(missing_ok=True)
            if lock >= 0:
                os.close(lock)  # the lock goes last: a sweeper never sees an unlocked live file


def sweep(folder: Path) -> None:
    """Remove temporaries whose build is gone; those of running builds are locked and stay."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not _is_temporary(name):
            continue
        path = folder / name
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if _lock(fd) and _is_file_at(fd, path) and _abandoned(path):
                if stat.S_ISDIR(os.fstat(fd).st_mode):  # a staging folder
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            os.close(fd)


_TEMPORARY = re.compile(r"\..*\.psoas-[a-z0-9_]{8}\.part(\.[a-z0-9]{1,4})?")


def _is_temporary(name: str) -> bool:
    """Exactly what mkstemp and mkdtemp make for us: .NAME.psoas-XXXXXXXX.part, with an
    extension for a scratch file (.part.wav, .part.mp3). Nothing else is ever swept: a user's
    own .notes.psoas-old.part (a folder even) is not ours."""
    return _TEMPORARY.fullmatch(name) is not None


def _create_temp(folder: Path, name: str, extension: str = "") -> tuple[Path, int]:
    """A new temporary, locked by this process; a sweeper that grabbed it first keeps it."""
    for _ in range(100):
        suffix = TEMP_SUFFIX + extension
        fd, raw = tempfile.mkstemp(dir=folder, prefix=f".{name}{TEMP_MARK}", suffix=suffix)
        path = Path(raw)
        if _lock(fd) and _is_file_at(fd, path):
            return path, fd
        os.close(fd)  # a sweeper holds it, or removed it: it disposes of it, we make another
    raise OSError(errno.EAGAIN, "could not create a temporary file")


@contextlib.contextmanager
def putting_in_place(folder: Path) -> Iterator[None]:
    """Held while a build puts its finished files in place: two builds to the same outputs
    then replace them one after the other, so a track and its transcript always come from
    the same build (the folder itself is locked: no lock file is left beside the user's).
    Not in a staging folder: it is one command's own, and that command holds its lock."""
    if _is_temporary(folder.name):
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        _wait_for_lock(fd)
        yield
    finally:
        os.close(fd)


try:
    import fcntl

    def _wait_for_lock(fd: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)

    def _lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _abandoned(path: Path) -> bool:
        return True  # we hold its lock, so no build is writing it

except ImportError:  # Windows: no flock; a file being written cannot be deleted there anyway

    def _wait_for_lock(fd: int) -> None:
        pass

    def _lock(fd: int) -> bool:
        return True

    def _abandoned(path: Path) -> bool:
        return time.time() - path.stat().st_mtime > UNLOCKED_LEFTOVER_SECONDS


def _is_file_at(fd: int, path: Path) -> bool:
    try:
        here, opened = os.stat(path, follow_symlinks=False), os.fstat(fd)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (opened.st_dev, opened.st_ino)


def _replace(temp: Path, target: Path) -> None:
    deadline = time.monotonic() + BUSY_RETRY_SECONDS
    while True:
        try:
            os.replace(temp, target)
            return
        except PermissionError as exc:
            if not RETRY_BUSY:
                raise OutputError(f"cannot write {target}: {_reason(exc)}") from None
            if time.monotonic() > deadline:
                raise OutputError(
                    f"cannot replace {target}: another program (a player?) has it open; "
                    "close it and build again"
                ) from None
            time.sleep(0.1)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {_reason(exc)}") from None


def _plain_file_mode(target: Path) -> int:
    """The old file's mode, or what a plain open() would give (mkstemp makes files private)."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symlink loop (the link points back at itself)"
    return exc.strerror or str(exc)


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
