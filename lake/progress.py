"""Progress reporting: the library emits events to a listener; the CLI renders them.

Library code never prints. Long operations accept ``listener: ProgressListener | None``.
"""

from __future__ import annotations

from typing import Protocol


class ProgressListener(Protocol):
    def started(self, task: str, total: float | None = None, unit: str = "items") -> None:
        """A task began; ``total`` is an estimate when known."""

    def advanced(self, task: str, amount: float, **details: float) -> None:
        """``amount`` more units of ``task`` were done (details: e.g. ``bytes=...``)."""

    def message(self, text: str) -> None:
        """A one-line note for the user (warnings, fallbacks, phases)."""

    def finished(self, task: str) -> None: ...


class NullListener:
    """Ignores everything (the default for library calls)."""

    def started(self, task: str, total: float | None = None, unit: str = "items") -> None:
        pass

    def advanced(self, task: str, amount: float, **details: float) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def finished(self, task: str) -> None:
        pass


class RecordingListener(NullListener):
    """Keeps every event; for tests and for summaries."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, float]] = []
        self.messages: list[str] = []

    def started(self, task: str, total: float | None = None, unit: str = "items") -> None:
        self.events.append(("started", task, total or 0.0))

    def advanced(self, task: str, amount: float, **details: float) -> None:
        self.events.append(("advanced", task, amount))

    def message(self, text: str) -> None:
        self.messages.append(text)

    def finished(self, task: str) -> None:
        self.events.append(("finished", task, 0.0))

    def total(self, task: str) -> float:
        return sum(a for kind, t, a in self.events if kind == "advanced" and t == task)
