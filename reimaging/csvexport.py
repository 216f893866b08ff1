"""Streaming CSV downloads (audit log, job history), safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import datetime
from collections.abc import AsyncIterator, Iterable, Iterator
from decimal import Decimal
from itertools import islice
from typing import Any

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

# A spreadsheet treats a cell starting with one of these as a formula (CSV injection); OWASP's list.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Rows pulled per trip to the database thread when served under ASGI.
ASYNC_CHUNK_ROWS = 500


class Echo:
    """A file-like object whose write returns the line, so csv.writer produces strings (the Django docs' pattern)."""

    def write(self, value: str) -> str:
        return value


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: numbers as they are, times in ISO 8601, text quoted against formula injection."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value  # a number is never read as a formula, and "-3" must stay a number
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class CsvStreamingResponse(StreamingHttpResponse):
    """Streams a synchronous iterator under ASGI too, a chunk at a time, instead of Django's read-it-all fallback."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        iterator = self.streaming_content
        if not isinstance(iterator, Iterator):  # already asynchronous: nothing to adapt
            async for part in iterator:
                yield part
            return
        # thread_sensitive: the rows come from the ORM, which must run on the request's database thread.
        take = sync_to_async(lambda: list(islice(iterator, ASYNC_CHUNK_ROWS)), thread_sensitive=True)
        while chunk := await take():
            for part in chunk:
                yield part


def csv_stream_response(filename: str, header: list[str], rows: Iterable[list[Any]]) -> StreamingHttpResponse:
    """A download of header then rows as CSV, produced while it is sent (rows may be a lazy database iterator)."""
    writer = csv.writer(Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow([csv_cell(cell) for cell in header])
        for row in rows:
            yield writer.writerow([csv_cell(cell) for cell in row])

    response = CsvStreamingResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
