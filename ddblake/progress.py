"""Renders library progress events on stderr: a one-line meter when stderr is a terminal,
silent with -q or when stderr is not a terminal (messages still print)."""

from __future__ import annotations

import sys
import time

import click


class TerminalProgress:
    def __init__(self, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self.live = not quiet and sys.stderr.isatty()
        self._tasks: dict[str, dict[str, float]] = {}
        self._last = 0.0

    def started(self, task: str, total: float | None = None, unit: str = "items") -> None:
        self._tasks[task] = {"done": 0.0, "total": total or 0.0, "t0": time.monotonic(),
                             "bytes": 0.0}
        self._units = unit

    def advanced(self, task: str, amount: float, **details: float) -> None:
        state = self._tasks.setdefault(task, {"done": 0.0, "total": 0.0,
                                              "t0": time.monotonic(), "bytes": 0.0})
        state["done"] += amount
        state["bytes"] += details.get("bytes", 0.0)
        now = time.monotonic()
        if self.live and now - self._last > 0.2:
            self._last = now
            self._draw(task, state, now)

    def _draw(self, task: str, state: dict[str, float], now: float) -> None:
        elapsed = max(now - state["t0"], 1e-9)
        rate = state["done"] / elapsed
        text = f"\r{task}: {state['done']:,.0f}"
        if state["total"]:
            text += f"/{state['total']:,.0f} ({100 * state['done'] / state['total']:.0f}%)"
        text += f"  {rate:,.0f}/s"
        if state["bytes"]:
            text += f"  {state['bytes'] / 1e6:,.1f} MB"
        if state["total"] and rate > 0 and state["total"] > state["done"]:
            text += f"  ETA {(state['total'] - state['done']) / rate:,.0f}s"
        click.echo(text.ljust(78), err=True, nl=False)

    def message(self, text: str) -> None:
        if self.live:
            click.echo("\r" + " " * 78 + "\r", err=True, nl=False)
        if not self.quiet:
            click.echo(text, err=True)

    def finished(self, task: str) -> None:
        state = self._tasks.pop(task, None)
        if self.live and state is not None:
            self._draw(task, state, time.monotonic())
            click.echo("", err=True)
