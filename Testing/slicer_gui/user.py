"""What the simulated user answers and what the application showed: the one mutable state of the stand-ins.

Dialogs take their answers from queues the test fills (an unexpected dialog fails the test), and everything a real
user would see — message boxes, opened URLs, selected modules, the wait cursor — is recorded for assertions.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class MessageBox:
    text: str
    title: str
    icon: Any
    buttons: Any
    details: str


@dataclass
class User:
    testing: bool = False  # slicer.app.testingEnabled()
    answers: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    message_boxes: list[MessageBox] = field(default_factory=list)
    opened_urls: list[str] = field(default_factory=list)
    selected_modules: list[str] = field(default_factory=list)
    override_cursors: list[Any] = field(default_factory=list)

    def answer(self, dialog: str, *answers: Any) -> None:
        """Queue the user's answers to the next ``dialog`` calls (e.g. ``"getExistingDirectory"``, ``"messageBox"``)."""
        self.answers[dialog].extend(answers)

    def next_answer(self, dialog: str, question: str) -> Any:
        if not self.answers[dialog]:
            raise AssertionError(f"unexpected {dialog}: {question!r} (no answer queued)")
        return self.answers[dialog].popleft()


current = User()


def reset() -> User:
    global current
    current = User()
    return current
