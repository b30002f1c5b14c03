"""A real SMTP server on 127.0.0.1 for the mail tests (aiosmtpd in a thread, on a free port).

The handler is scripted: ``answers`` is a list of replies to give to the next DATA commands ("451 …", "550 …"),
after which every message is accepted with 250. Only accepted messages are kept, so ``messages`` is what a
recipient would have received. ``on_accept`` runs after a message is stored and before the 250 goes back, which
is where the crash test kills the sending worker.
"""

from __future__ import annotations

import email
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ScriptedHandler:
    def __init__(self):
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.answers: list[str] = []
        self.refused: list[str] = []
        self.on_accept: Callable[[EmailMessage], None] | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            answer = self.answers.pop(0) if self.answers else "250 Message accepted"
        if not answer.startswith("250"):
            self.refused.append(answer)
            return answer
        message = email.message_from_bytes(envelope.content, policy=default)
        with self.lock:
            self.messages.append(message)
        if self.on_accept is not None:
            self.on_accept(message)
        return answer


class SmtpServer:
    def __init__(self):
        self.handler = ScriptedHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()

    def reset(self) -> None:
        with self.handler.lock:
            self.handler.messages.clear()
            self.handler.answers.clear()
            self.handler.refused.clear()
            self.handler.on_accept = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.handler.lock:
            return list(self.handler.messages)

    def answer(self, *replies: str) -> None:
        with self.handler.lock:
            self.handler.answers.extend(replies)

    def kinds(self) -> Counter:
        """(kind, recipient) -> how many messages arrived."""
        return Counter((m["X-PipeAccess-Kind"], m["To"]) for m in self.messages)

    def wait_for(self, count: int, timeout: float = 30, settle: float = 1.0) -> list[EmailMessage]:
        """Wait until ``count`` messages arrived, then a little longer so that an extra one would show too."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(settle)
        return self.messages
