"""Measure built MP3s as a listener's player would: decode with ffmpeg, then look at samples."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from mutagen.id3 import ID3

RATE = 44_100
Audio = npt.NDArray[np.float64]


def decode(path: Path) -> Audio:
    """The decoded track as floats in [-1, 1]; ffmpeg trims the encoder delay via the LAME tag."""
    raw = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-f",
            "s16le",
            "-ac",
            "1",
            "-ar",
            str(RATE),
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0


def dbfs(samples: Audio) -> float:
    """RMS level in dBFS; -inf for digital silence."""
    if samples.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(samples**2)))
    return 20 * np.log10(rms) if rms > 0 else float("-inf")


def silent_run(samples: Audio, start: float, end: float, threshold_db: float = -50) -> float:
    """Length (s) of the quiet stretch that contains the middle of [start, end].

    Grows out from the middle sample by sample until the signal exceeds the threshold, so the
    result is what a listener hears as silence, independent of where the plan says it is.
    """
    limit = 10 ** (threshold_db / 20)
    loud = np.abs(samples) > limit
    middle = int((start + end) / 2 * RATE)
    assert not loud[middle], f"sound in the middle of the silence at {start:.3f}-{end:.3f}s"
    before = np.flatnonzero(loud[:middle])
    after = np.flatnonzero(loud[middle:])
    first = before[-1] + 1 if before.size else 0
    last = middle + after[0] if after.size else len(samples)
    return (last - first) / RATE


def probe_tags(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_chapters", "-show_streams",
         "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    result: dict[str, Any] = json.loads(out)
    return result


def silence_runs(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive silence events of a plan, grouped: each group is one stretch of quiet."""
    runs: list[list[dict[str, Any]]] = []
    for previous, event in zip([None, *events], events, strict=False):
        if event["kind"] != "silence":
            continue
        if previous is not None and previous["kind"] == "silence":
            runs[-1].append(event)
        else:
            runs.append([event])
    return runs


def ebur128(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) of a file, as ffmpeg's EBU R128 meter reports them."""
    err = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
         "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr  # fmt: skip
    summary = err[err.rindex("Summary:") :]
    integrated = float(summary.split("I:")[1].split("LUFS")[0])
    peak = float(summary.split("Peak:")[1].split("dBFS")[0])
    return integrated, peak


def short_term_max(samples: Audio) -> float:
    """The loudest 3 s short-term loudness (LUFS) in a stretch, with pyloudnorm's K-weighting."""
    import pyloudnorm

    meter = pyloudnorm.Meter(RATE)
    weighted = samples
    for stage in meter._filters.values():
        weighted = stage.apply_filter(weighted)
    window, hop = 3 * RATE, RATE // 10
    sums = np.concatenate([[0.0], np.cumsum(weighted**2)])
    starts = np.arange(0, max(len(weighted) - window, 0) + 1, hop)
    powers = (sums[np.minimum(starts + window, len(weighted))] - sums[starts]) / window
    return float(-0.691 + 10 * np.log10(powers.max()))


def id3_frames(path: Path, frame_id: str) -> list[Any]:
    """The MP3's ID3 frames of one kind (e.g. COMM), as mutagen reads them."""
    frames: list[Any] = ID3(path).getall(frame_id)
    return frames


def true_peak(signal: npt.NDArray[np.float32]) -> float:
    """True peak in dBTP: the peak of the signal 4x oversampled by soxr's best interpolator
    (the product's limiter uses a faster one)."""
    import soxr

    if not len(signal):
        return float("-inf")
    peak = float(np.abs(soxr.resample(signal, RATE, 4 * RATE, "VHQ")).max())
    return float(20 * np.log10(peak)) if peak > 0 else float("-inf")
