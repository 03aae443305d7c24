"""The processes of ``attnseg-step-overhead``: started with a baton to the referee, read back on failure.

Each contender inherits a pipe pair (:class:`attnseg.tools.turns.Baton`). The template writes to
a pseudo-terminal by default, so that its progress bar renders as in a terminal; what it writes
is copied into its log. A contender that exits or stops answering turns into an
:class:`OverheadError` that carries the end of its output.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from attnseg.tools.turns import Baton

TERMINAL_SIZE = (40, 120)  # rows, columns of the pseudo-terminal the template writes to


class OverheadError(RuntimeError):
    """The benchmark cannot run or its sides do not compute the same thing."""


@dataclass
class Contender:
    """One process of a round and the turns it reported (warm-up left out)."""

    name: str
    process: subprocess.Popen
    baton: Baton
    log: Path
    hello: dict[str, Any] = field(default_factory=dict)
    turns: list[dict[str, Any]] = field(default_factory=list)

    def send(self, command: str) -> None:
        try:
            self.baton.send(command=command)
        except OSError:  # a broken pipe: it exited while waiting for the baton
            self.fail(EOFError(), 0)

    def expect(self, event: str, timeout: float) -> dict[str, Any]:
        try:
            message = self.baton.recv(timeout)
        except (EOFError, TimeoutError) as err:
            self.fail(err, timeout)
        if message.get("event") != event:
            raise OverheadError(f"{self.name} sent {message}, expected a {event!r} message")
        return message

    def fail(self, err: Exception, timeout: float) -> NoReturn:
        if isinstance(err, TimeoutError):
            self.process.kill()
        status = self.process.wait()
        what = "exited" if isinstance(err, EOFError) else f"was stopped after {timeout:.0f} s"
        raise OverheadError(
            f"{self.name} {what} (status {status}); its output ends:\n{tail(self.log)}"
        ) from None


def tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(errors="replace") if path.is_file() else ""
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


def _drain(master: int, log: Path) -> None:
    """Copy what the template writes to its terminal into its log, as a terminal would read it."""
    with log.open("ab") as out:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last process holding the terminal exited
                break
            if not data:
                break
            out.write(data)
    os.close(master)


def start(name: str, command: list[str], work: Path, env: dict[str, str], tty: bool) -> Contender:
    """Start ``command`` (``{read_fd}`` / ``{write_fd}`` filled in) with a baton to the referee."""
    to_child, from_parent = os.pipe()
    to_parent, from_child = os.pipe()
    # str.replace, not str.format: the overrides may hold braces (${...} interpolations)
    command = [p.replace("{read_fd}", str(to_child)).replace("{write_fd}", str(from_child)) for p in command]
    log = work / f"{name}.log"
    if tty:
        master, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", *TERMINAL_SIZE, 0, 0))
        output = terminal
    else:
        output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    process = subprocess.Popen(
        command,
        pass_fds=(to_child, from_child),
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=output,
        env=env,
        start_new_session=True,  # its own process group: a failure stops its helpers too
    )
    for fd in (to_child, from_child, output):  # the child's ends: its exit must close the pipes
        os.close(fd)
    if tty:
        threading.Thread(target=_drain, args=(master, log), daemon=True).start()
    return Contender(name, process, Baton(to_parent, from_parent), log)
