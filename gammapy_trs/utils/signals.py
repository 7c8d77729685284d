"""SIGTERM handled as Ctrl-C, so that what is interrupted cleans up after itself."""

import contextlib
import signal
import threading

__all__ = ["sigterm_as_interrupt"]


@contextlib.contextmanager
def sigterm_as_interrupt(unless_handled=False):
    """Within the block, SIGTERM raises KeyboardInterrupt (in the main thread), like Ctrl-C.

    Parameters
    ----------
    unless_handled : bool, optional
        Leave SIGTERM alone where a handler of someone else's is set already.
        Default is False.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if unless_handled and previous not in (signal.SIG_DFL, None):
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
