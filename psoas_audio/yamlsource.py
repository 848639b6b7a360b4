"""YAML -> plain data plus the source position of every node, so errors can point at lines."""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import Loc, Problem, RoutineError, SourceFileError


@dataclass(frozen=True)
class Position:
    line: int
    column: int


@dataclass(frozen=True)
class SourceDocument:
    """A parsed YAML file: its data, and where each value (and each mapping key) stands."""

    path: Path
    data: object
    values: dict[Loc, Position] = field(default_factory=dict)
    keys: dict[Loc, Position] = field(default_factory=dict)

    def position(self, loc: Loc, *, key: bool = False) -> Position:
        """The position of the node at loc, or of its nearest ancestor that exists."""
        loc = tuple(loc)
        if key and loc in self.keys:
            return self.keys[loc]
        while loc not in self.values:
            loc = loc[:-1]
        return self.values[loc]

    def problem(self, loc: Loc, message: str, *, key: bool = False) -> Problem:
        pos = self.position(loc, key=key)
        return Problem(self.path, pos.line, pos.column, message)


def _pos(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


EMPTY_ROUTINE = "the file is empty; a routine needs a title and steps"
MAX_BYTES = 4_000_000  # far beyond any routine or profile


def _read(path: Path) -> bytes:
    """The bytes of a regular file: a FIFO would block and /dev/zero would never end."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise SourceFileError(f"{path}: not a regular file (a device, FIFO or socket)")
        if info.st_size > MAX_BYTES:
            raise SourceFileError(f"{path}: {info.st_size:,} bytes is too large for a YAML file")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(MAX_BYTES + 1)
    finally:
        os.close(fd)


def load_document(path: Path, empty: str = EMPTY_ROUTINE) -> SourceDocument:
    """Read and compose a YAML file safely; duplicate keys are mistakes, not silent overrides."""
    try:
        text = _read(path).decode("utf-8")  # line breaks as written: no universal newlines
    except FileNotFoundError:
        raise SourceFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceFileError(f"{path}: is a folder, not a YAML file") from None
    except UnicodeDecodeError as exc:
        raise SourceFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            loop = f"{path}: a symlink loop (the link points back at itself)"
            raise SourceFileError(loop) from None
        raise SourceFileError(f"{path}: cannot read: {exc.strerror}") from None

    doc = SourceDocument(path=path, data=None)
    odd = _ODD_LINE_BREAK.search(text)
    if odd:  # YAML counts these as line breaks and editors mostly do not: lines would not match
        line = text.count("\n", 0, odd.start()) + 1
        column = odd.start() - (text.rfind("\n", 0, odd.start()) + 1) + 1
        message = f"an unusual line break (U+{ord(odd[0]):04X}); use a plain newline"
        raise RoutineError([Problem(path, line, column, message)])
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:  # a raw control character in the file
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        message = f"{_control_name(chr(exc.character))} in the file; remove it"
        raise RoutineError([Problem(path, line, column, message)]) from None
    converter = _Converter(loader, doc)
    try:
        root = loader.get_single_node()
        data = converter.convert(root, ()) if root is not None else None
    except RecursionError:
        raise SourceFileError(f"{path}: nested too deeply for a routine") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        what = exc.problem or exc.context or "malformed YAML"
        if "'\\t'" in what:
            tab = f"{where}: a tab character; indent with spaces, not tabs"
            raise SourceFileError(tab) from None
        raise SourceFileError(f"{where}: YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise SourceFileError(f"{path}: YAML syntax error: {exc}") from None
    finally:
        loader.dispose()
    if converter.problems:
        raise RoutineError(converter.problems)
    if data is None:
        raise RoutineError([Problem(path, 1, 1, empty)])
    return SourceDocument(path=path, data=data, values=doc.values, keys=doc.keys)


_ODD_LINE_BREAK = re.compile("\r(?!\n)|[\x85\u2028\u2029]")
_CONTROL_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BS", 0x0B: "VT", 0x0C: "FF", 0x1B: "ESC",
                  0x7F: "DEL"}  # fmt: skip


def _is_control(char: str) -> bool:
    """C0 and C1 control characters other than tab and newline, and DEL."""
    code = ord(char)
    return (code < 0x20 and char not in "\t\n") or 0x7F <= code <= 0x9F


def control_character(text: str) -> str | None:
    """'a control character (U+001B, ESC)' for the first one in text, or None."""
    bad = next((char for char in text if _is_control(char)), None)
    return None if bad is None else _control_name(bad)


def _control_name(char: str) -> str:
    code = ord(char)
    name = _CONTROL_NAMES.get(code)
    return f"a control character (U+{code:04X}{', ' + name if name else ''})"


MAX_NODES = 100_000  # far beyond any routine; stops alias bombs before they eat memory


class _Converter:
    """Composed YAML nodes -> plain data, recording where every node stands."""

    def __init__(self, loader: yaml.SafeLoader, doc: SourceDocument) -> None:
        self.loader, self.doc = loader, doc
        self.problems: list[Problem] = []
        self.count = 0
        self.open: set[int] = set()  # nodes being converted: an alias to one is a cycle

    def problem(self, node: yaml.Node, message: str) -> None:
        pos = _pos(node)
        self.problems.append(Problem(self.doc.path, pos.line, pos.column, message))

    def convert(self, node: yaml.Node, loc: Loc) -> object:
        self.count += 1
        if self.count > MAX_NODES:
            raise SourceFileError(f"{self.doc.path}: more than {MAX_NODES:,} values; not a routine")
        self.doc.values[loc] = _pos(node)
        if id(node) in self.open:
            self.problem(node, "this alias refers to a value that contains it")
            return None
        if isinstance(node, yaml.MappingNode):
            self.open.add(id(node))
            try:
                return self._mapping(node, loc)
            finally:
                self.open.discard(id(node))
        if isinstance(node, yaml.SequenceNode):
            self.open.add(id(node))
            try:
                return [self.convert(item, (*loc, i)) for i, item in enumerate(node.value)]
            finally:
                self.open.discard(id(node))
        value = self.loader.construct_object(node, deep=True)
        if isinstance(value, str):
            self._check_text(node, value)
        return value

    def _check_text(self, node: yaml.Node, text: str) -> None:
        """Control characters would reach the engine and the tags ("\\0" is one escape away)."""
        bad = control_character(text)
        if bad is not None:
            self.problem(node, f"{bad} in text; remove it")

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, object]:
        self.loader.flatten_mapping(node)  # resolves "<<" merge keys
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            key = self.loader.construct_object(key_node, deep=True)
            if isinstance(key, str):
                self._check_text(key_node, key)
            if not isinstance(key, str):
                self.problem(key_node, f"keys must be names, got {key!r}")
            elif key in result:
                self.problem(key_node, f"'{key}' is given twice")
            else:
                self.doc.keys[(*loc, key)] = _pos(key_node)
                result[key] = self.convert(value_node, (*loc, key))
        return result
