"""psoas-audio: compile YAML body-work routines into voice-guided MP3s with exact silences."""

from .errors import (
    CacheError,
    EncodeError,
    EngineError,
    PsoasError,
    RoutineError,
    SourceFileError,
    UsageError,
)
from .pipeline import Built, Options, Planned, build, check, plan_routine
from .routine import Routine, RoutineFile, load_routine
from .timeline import PlanSettings, Timeline

__all__ = [
    "Built", "CacheError", "EncodeError", "EngineError", "Options", "PlanSettings", "Planned",
    "PsoasError", "Routine", "RoutineError", "RoutineFile", "SourceFileError", "Timeline",
    "UsageError", "build", "check", "load_routine", "plan_routine",
]  # fmt: skip
