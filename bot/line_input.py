"""Reading a line from the terminal without blocking the event loop, and without trapping Ctrl-C.

``asyncio.to_thread``'s worker is joined at exit, so a Ctrl-C at a prompt waited for Enter; a daemon thread
is abandoned instead. readline switches echo and line mode off while it waits, and a Ctrl-C that ends the
program on another thread would leave the shell so: the mode is put back when the wait is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable


async def read_line(read: Callable[..., str], *args: str) -> str:
    """``read(*args)`` (``input``, a ``readline``) on a daemon thread, awaited: Ctrl-C while it waits ends
    the program at once. ``asyncio.to_thread``'s worker is joined at exit, so the program waited for a
    line to be typed before Ctrl-C took effect."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def settle(result: str | None, error: BaseException | None) -> None:
        if future.done():  # cancelled: Ctrl-C, or the session ended
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result or "")

    def run() -> None:
        try:
            result, error = read(*args), None
        except StopIteration:  # an iterator's end (a scripted reader): no exception a future can hold
            result, error = None, EOFError()
        except BaseException as e:  # EOFError, KeyboardInterrupt, a closed stream
            result, error = None, e
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    saved = _terminal_mode()
    threading.Thread(target=run, name="qabot-input", daemon=True).start()
    try:
        return await future
    except asyncio.CancelledError:  # Ctrl-C: readline left the terminal without echo while it waited
        _restore_terminal_mode(saved)
        raise


def _terminal_mode() -> list | None:
    """stdin's terminal settings (echo, line mode), or None when it is no terminal."""
    with contextlib.suppress(ImportError, OSError, ValueError):
        import termios

        if sys.stdin is not None and sys.stdin.isatty():  # None: fd 0 closed (`qabot chat 0<&-`)
            return termios.tcgetattr(sys.stdin.fileno())
    return None


def _restore_terminal_mode(saved: list | None) -> None:
    if saved is not None:
        with contextlib.suppress(ImportError, OSError, ValueError):
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
