"""What ``newsletter issue send`` shows while it runs, and how it stops on a signal."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from newsletter.cli import common
from newsletter.storage.models import BatchStatus

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from newsletter.delivery.runner import BatchEvent
    from newsletter.services.issues_send import SendStart

LOG_EVERY_SECONDS = 5.0


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """SIGINT/SIGTERM stop new batches; requests in flight finish and are recorded."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set():
            return
        stop.set()
        common.err_console.print(
            f"{signal.Signals(signum).name}: finishing requests in flight, then stopping "
            "(run the same command again to resume)."
        )

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Display:
    """A Rich progress bar on a terminal, a log line every few seconds otherwise."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = enabled and common.err_console.is_terminal
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.total = self.done = self.skipped = 0
        self.counts: dict[BatchStatus, int] = {}
        self.started = self.logged = time.monotonic()

    def __enter__(self) -> Display:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def start(self, info: SendStart) -> None:
        self.total = info.to_send
        self.started = self.logged = time.monotonic()
        if not self.enabled:
            return
        rec = info.recovery
        if rec.became_unknown:
            common.err_console.print(
                f"[yellow]{len(rec.became_unknown)} batch(es) were in flight when an earlier "
                f"run stopped; their outcome is unknown: {numbers(rec.became_unknown)}[/yellow]"
            )
        if rec.failed_retried:
            common.err_console.print(f"Retrying failed batch(es) {numbers(rec.failed_retried)}.")
        common.err_console.print(
            f"Issue {info.issue_id} to {info.list_slug!r}: {info.recipients:,} in the snapshot, "
            f"{info.to_send:,} to send in {info.batches:,} batch(es)."
        )
        if self.tty:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]sending"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}/s"),
                TimeRemainingColumn(),
                console=common.err_console,
                transient=False,
            )
            self.task = self.progress.add_task("send", total=max(info.to_send, 1), rate="0")
            self.progress.start()

    def batch(self, event: BatchEvent) -> None:
        self.counts[event.status] = self.counts.get(event.status, 0) + 1
        self.done += event.recipients + event.skipped
        self.skipped += event.skipped
        now = time.monotonic()
        rate = self.done / max(now - self.started, 1e-6)
        if event.status in (BatchStatus.FAILED, BatchStatus.UNKNOWN) and self.enabled:
            common.err_console.print(
                f"[red]batch {event.batch_no} {event.status}:[/red] {escape(event.error or '')}"
            )
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=self.done, rate=f"{rate:,.0f}")
        elif self.enabled and not self.tty and now - self.logged >= LOG_EVERY_SECONDS:
            self.logged = now
            left = (self.total - self.done) / rate if rate else 0.0
            common.err_console.print(
                f"progress: {self.done:,}/{self.total:,} recipients, {rate:,.0f}/s, "
                f"about {left:,.0f}s left"
            )


def numbers(values: list[int], limit: int = 20) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f" … ({len(values)} in all)" if len(values) > limit else "")
