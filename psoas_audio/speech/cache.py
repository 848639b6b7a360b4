"""Synthesized phrases on disk, keyed by everything that changes how they sound."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import platformdirs

from ..errors import CacheError
from ..pcm import SAMPLE_RATE, Samples

T = TypeVar("T")

# Bump when the processing of a clip changes (trim, resample, fades), so old clips are not reused.
CLIP_FORMAT = 5


def default_cache_dir() -> Path:
    override = os.environ.get("PSOAS_AUDIO_CACHE")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("psoas-audio")) / "speech"


class PhraseCache:
    """One WAV file per phrase; writes are atomic, so parallel builds can share the folder."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or default_cache_dir()

    @staticmethod
    def digest(**fields: object) -> str:
        """A cache key for anything derived from clips: every field that changes the result."""
        fields |= {"format": CLIP_FORMAT, "sample_rate": SAMPLE_RATE}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()

    def get_value(self, key: str) -> dict[str, float] | None:
        """A small measured result (e.g. a track's gain) stored beside the clips."""
        try:
            value: dict[str, float] = json.loads(self._path(key).with_suffix(".json").read_text())
            return value
        except (OSError, ValueError):
            return None

    def put_value(self, key: str, value: dict[str, float]) -> None:
        self._write(self._path(key).with_suffix(".json"), json.dumps(value).encode())

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.wav"

    def get(self, key: str) -> Samples | None:
        """The cached clip, or None if it is missing or unreadable (then it is spoken again)."""
        return self._read(key, lambda wav: np.frombuffer(wav.readframes(wav.getnframes()), "<i2"))

    def length(self, key: str) -> int | None:
        """The clip's length in samples from its header alone, or None if it is not cached."""
        return self._read(key, lambda wav: wav.getnframes())

    def _read(self, key: str, read: Callable[[wave.Wave_read], T]) -> T | None:
        try:
            with wave.open(str(self._path(key)), "rb") as wav:
                if wav.getframerate() != SAMPLE_RATE or wav.getsampwidth() != 2:
                    return None
                return read(wav)
        except (OSError, wave.Error, EOFError):
            return None

    def put(self, key: str, samples: Samples) -> None:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SAMPLE_RATE)
            wav.writeframes(samples.astype("<i2", copy=False).tobytes())
        self._write(self._path(key), buffer.getvalue())

    def _write(self, path: Path, data: bytes) -> None:
        """Write atomically (a temporary file, then a rename): parallel builds may share this."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise CacheError(
                f"cannot write the speech cache in {self.folder}: {exc.strerror or exc}; "
                "set PSOAS_AUDIO_CACHE to a writable folder"
            ) from None
