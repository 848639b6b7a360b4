"""What the benchmarks share: timing a command while sampling the memory of its process tree,
and a clarity proxy (an offline recognizer's word recall) for spoken audio."""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

Audio = npt.NDArray[np.float64]
RECOGNIZER_RATE = 16_000


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as handle:
        return dict(line.split(":", 1) for line in handle if ":" in line)


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as handle:
                    ppid = int(handle.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            found.setdefault(ppid, []).append(int(entry.name))
    return found


@dataclass
class Run:
    """A finished command: its wall time, output, and every process's peak memory (MB)."""

    seconds: float
    stdout: str
    stderr: str
    returncode: int
    peaks: dict[int, tuple[str, float]] = field(default_factory=dict)  # pid -> (name, MB)
    tree_mb: float = 0.0  # the whole tree at its fullest sampled moment

    def peak_of(self, *names: str) -> tuple[int, float]:
        """(how many such processes ran, the highest peak among them) by process name."""
        found = [mb for name, mb in self.peaks.values() if name in names]
        return len(found), max(found, default=0.0)


def run_sampled(command: Sequence[str | Path], env: dict[str, str] | None = None) -> Run:
    """Run a command to its end, sampling every 20 ms the peak RSS (VmHWM) of each process in
    its tree: the command itself and every child (speech engines, ffmpeg)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(part) for part in command], env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    peaks: dict[int, tuple[str, float]] = {}
    tree = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal tree
        while not stop.wait(0.02):
            children, todo, total = _children(), [process.pid], 0.0
            while todo:
                pid = todo.pop()
                todo += children.get(pid, [])
                try:
                    status = _status(pid)
                    rss = int(status.get("VmRSS", "0 kB").split()[0]) / 1024
                    hwm = int(status.get("VmHWM", "0 kB").split()[0]) / 1024
                except (OSError, ValueError):
                    continue
                total += rss
                name = status.get("Name", "?").strip()
                peaks[pid] = (name, max(hwm, peaks.get(pid, (name, 0.0))[1]))
            tree = max(tree, total)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    return Run(seconds, stdout, stderr, process.returncode, peaks, tree)


def decode(path: Path, rate: int) -> Audio:
    """An audio file decoded by ffmpeg to mono floats at `rate`."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar", str(rate),
         "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def recalled(said: list[str], heard: list[str]) -> int:
    """How many of the words said the recognizer heard, in order (the longest matching runs)."""
    matcher = difflib.SequenceMatcher(a=said, b=heard, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks())


class Recognizer:
    """PocketSphinx with its own US English model (from PyPI; nothing is downloaded)."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=RECOGNIZER_RATE, logfn=os.devnull)

    def hear(self, audio: Audio) -> list[str]:
        """The words heard in a stretch of 16 kHz audio, given a quarter second of quiet around."""
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak == 0.0:
            return []
        pad = np.zeros(RECOGNIZER_RATE // 4)
        pcm = np.concatenate([pad, audio * (0.5 / peak), pad])
        self.decoder.start_utt()
        self.decoder.process_raw((pcm * 32767).astype("<i2").tobytes(), full_utt=True)
        self.decoder.end_utt()
        hypothesis = self.decoder.hyp()
        return words(hypothesis.hypstr) if hypothesis else []


def clarity(audio: Audio, lines: Sequence[tuple[float, float, str]]) -> float:
    """Word recall over the spoken lines (start s, end s, text) of a track decoded at 16 kHz:
    the share of each line's words the recognizer heard, pooled. A relative proxy only."""
    recognizer = Recognizer()
    said_total = heard_total = 0
    for start, end, text in lines:
        said = words(text)
        span = audio[int(start * RECOGNIZER_RATE) : int(end * RECOGNIZER_RATE)]
        heard_total += recalled(said, recognizer.hear(span))
        said_total += len(said)
    return heard_total / said_total if said_total else 0.0
