"""psoas-audio: compile YAML body-work routines into voice-guided MP3s with exact silences.

The public names load on first use, so the command line can catch Ctrl-C before anything heavy
(numpy, pydantic, the speech engines) is imported.
"""

TYPE_CHECKING = False  # not typing's: importing typing costs time before Ctrl-C is caught
if TYPE_CHECKING:
    from .errors import (
        CacheError,
        EncodeError,
        EngineError,
        OutputError,
        PsoasError,
        RoutineError,
        SourceFileError,
        UsageError,
    )
    from .pipeline import Built, Options, Planned, build, check, plan_routine
    from .routine import Routine, RoutineFile, load_routine
    from .timeline import PlanSettings, Timeline

_HOMES = {
    **dict.fromkeys(
        ["CacheError", "EncodeError", "EngineError", "OutputError", "PsoasError", "RoutineError",
         "SourceFileError", "UsageError"], "errors",
    ),
    **dict.fromkeys(["Built", "Options", "Planned", "build", "check", "plan_routine"], "pipeline"),
    **dict.fromkeys(["Routine", "RoutineFile", "load_routine"], "routine"),
    **dict.fromkeys(["PlanSettings", "Timeline"], "timeline"),
}  # fmt: skip
__all__ = [
    "Built", "CacheError", "EncodeError", "EngineError", "Options", "OutputError",
    "PlanSettings", "Planned", "PsoasError", "Routine", "RoutineError", "RoutineFile",
    "SourceFileError", "Timeline", "UsageError", "build", "check", "load_routine", "plan_routine",
]  # fmt: skip


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module 'psoas_audio' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
