"""`python -m psoas_audio` and the `psoas-audio` command: Ctrl-C is caught before any import."""

from __future__ import annotations

import os
import signal
from types import FrameType


def catch_early_interrupts() -> None:
    """Until a command takes over, Ctrl-C or SIGTERM ends the process quietly: nothing is done."""

    def leave(signum: int, frame: FrameType | None) -> None:
        os.write(2, b"interrupted; nothing was written\n")
        os._exit(130)

    signal.signal(signal.SIGINT, leave)
    signal.signal(signal.SIGTERM, leave)


def main() -> None:
    catch_early_interrupts()
    from .cli import app

    app(prog_name="psoas-audio")


if __name__ == "__main__":
    main()
