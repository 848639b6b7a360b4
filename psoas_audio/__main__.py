"""`python -m psoas_audio` and the `psoas-audio` command: Ctrl-C is caught before any import."""

import os
import signal


def catch_early_interrupts() -> None:
    """Until a command takes over, Ctrl-C or SIGTERM ends the process quietly: nothing is done."""

    def leave(signum: int, frame: object) -> None:
        os.write(2, b"interrupted; nothing was written\n")
        os._exit(130)

    signal.signal(signal.SIGINT, leave)
    signal.signal(signal.SIGTERM, leave)


def main() -> None:
    catch_early_interrupts()
    # numpy's OpenBLAS starts a thread per core in every process that imports it (this one,
    # each engine, each batch worker), and they spin between calls; nothing here uses BLAS
    # for more than a few numbers. Set before numpy is imported; the children inherit it.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from .cli import app

    try:
        app(prog_name="psoas-audio")
    finally:  # the command is over and has said what it did: a late signal changes nothing
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


if __name__ == "__main__":
    main()
