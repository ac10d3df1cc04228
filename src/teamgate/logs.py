"""Logs: one line per request (``teamgate.access``) and the server's own messages, as JSON lines
or text (``TEAMGATE_LOG_FORMAT``; unset: text on a terminal, JSON otherwise).

Everything goes through the standard library's logging, so an operator can reconfigure it. The
access line is cheap: its record is filled from a template made once (no caller lookup, no
argument formatting) and handed to a queue; a thread formats and writes it, so the event loop
never waits on the stream. Other messages are rare and are written at once.

A line never holds a secret: the access line names the route's template, never the path
(which may carry an invite code) nor the query string, headers, cookies or body.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from logging.handlers import QueueHandler
from typing import Any, Literal, TextIO

import orjson

from teamgate.correlation import current_request_id

LogFormat = Literal["json", "text"]

ACCESS_LOGGER = "teamgate.access"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS_FIELDS = ("method", "route", "status", "duration_ms", "request_id")
ACCESS_LINE = "%s %s %s %sms %s"  # the access fields, in that order
WRITE_INTERVAL_SECONDS = 0.05  # how long an access line may wait to be written


def chosen_format(configured: LogFormat | None, stream: TextIO) -> LogFormat:
    """The configured format, or text when ``stream`` is a terminal and JSON lines otherwise."""
    if configured is not None:
        return configured
    try:
        return "text" if stream.isatty() else "json"
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the request id
    when there is one, the access fields on access lines, and a traceback as text."""

    _second = -1
    _stamp = ""

    def _time(self, created: float) -> str:
        """``2026-01-31T12:00:00.123Z``; the part up to the second made once a second."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if isinstance(record, AccessRecord):
            for field in ACCESS_FIELDS:
                line[field] = record.__dict__[field]
        else:
            request_id = getattr(record, "request_id", None) or current_request_id.get()
            if request_id:
                line["request_id"] = request_id
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)


class AccessRecord(logging.LogRecord):
    """A log record for one request: every attribute a LogRecord has, plus ``ACCESS_FIELDS``.
    Made by ``AccessLog.emit``, which fills it from a template instead of running
    ``LogRecord.__init__`` (the caller lookup and process bookkeeping it does cost as much as
    the rest of the line)."""

    method: str
    route: str
    status: int
    duration_ms: float
    request_id: str


class AccessLog:
    """Emits the access line of each request to the ``teamgate.access`` logger. Made in the
    process that serves (by the app's middleware), so its template names that process."""

    def __init__(self) -> None:
        self.logger = logging.getLogger(ACCESS_LOGGER)
        template = logging.LogRecord(
            ACCESS_LOGGER, logging.INFO, __file__, 0, ACCESS_LINE, (), None
        )
        self._template = dict(template.__dict__)

    def emit(self, method: str, route: str, status: int, seconds: float, request_id: str) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        record = AccessRecord.__new__(AccessRecord)
        fields = record.__dict__
        fields.update(self._template)
        created = time.time()
        duration_ms = round(seconds * 1000, 3)
        fields["created"] = created
        fields["msecs"] = (created - int(created)) * 1000
        # The message is formatted where the line is written (see BackgroundHandler).
        fields["args"] = (method, route, status, duration_ms, request_id)
        fields["method"] = method
        fields["route"] = route
        fields["status"] = status
        fields["duration_ms"] = duration_ms
        fields["request_id"] = request_id
        logger.handle(record)


class BackgroundHandler(QueueHandler):
    """Queues records for a thread that formats and writes them, a batch every few
    milliseconds: a thread woken for every record would cost the event loop more (the two
    would trade the interpreter lock for each line) than writing the line itself. Its formatter
    and level are those of the writer.

    ``flush()`` waits until every record queued so far is written; ``close()`` (at exit, by
    logging's shutdown) writes the rest and stops the thread."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.pending: queue.SimpleQueue[logging.LogRecord | threading.Event | None] = (
            queue.SimpleQueue()
        )
        super().__init__(self.pending)
        self.writer = logging.StreamHandler(stream if stream is not None else sys.stderr)
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._write, name="teamgate-log", daemon=True)
        self._thread.start()

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        self.writer.setFormatter(fmt)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """An access record as it is (nothing in it changes later); any other with its message
        and traceback rendered now, as the standard QueueHandler does."""
        if isinstance(record, AccessRecord):
            return record
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args, record.exc_info = record.getMessage(), None, None
        return record

    def flush(self) -> None:
        if self._thread.is_alive():
            written = threading.Event()
            self.pending.put(written)
            self._wake.set()
            written.wait(timeout=5)

    def close(self) -> None:
        if self._thread.is_alive():
            self.pending.put(None)
            self._wake.set()
            self._thread.join(timeout=5)
        super().close()

    def _write(self) -> None:
        get_nowait, writer = self.pending.get_nowait, self.writer
        while True:
            self._wake.wait(WRITE_INTERVAL_SECONDS)
            self._wake.clear()
            batch: list[logging.LogRecord | threading.Event | None] = []
            while True:
                try:
                    batch.append(get_nowait())
                except queue.Empty:
                    break
            lines: list[str] = []
            for item in batch:
                if isinstance(item, logging.LogRecord):
                    try:
                        lines.append(writer.format(item) + writer.terminator)
                    except Exception:  # as StreamHandler does: report on stderr, go on
                        writer.handleError(item)
            if lines:
                try:
                    writer.stream.write("".join(lines))
                    writer.stream.flush()
                except Exception:
                    writer.handleError(next(i for i in batch if isinstance(i, logging.LogRecord)))
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
                elif item is None:
                    return


def flush_access_log() -> None:
    """Write out the access lines queued so far (a server stopping: its last lines)."""
    for handler in logging.getLogger(ACCESS_LOGGER).handlers:
        handler.flush()


def config(log_format: LogFormat) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of ``teamgate serve``: uvicorn's messages and
    teamgate's in one format on stderr, the access lines from a background writer; uvicorn's
    own access log off (teamgate writes one line per request instead)."""
    formatter = {"()": JsonFormatter if log_format == "json" else TextFormatter}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter, "access": formatter},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            },
            "access": {"()": BackgroundHandler, "formatter": "access"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            "teamgate": {"handlers": ["default"], "level": "INFO", "propagate": False},
            ACCESS_LOGGER: {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }
