"""CSV and Parquet encodings of export batches, each batch encoded as it comes.

CSV: a header line, then one line per row; an empty cell is null. Parquet: one row group per
batch, written by pyarrow as it comes, with the column types of `SCHEMAS`. Times are
ISO-8601 strings in UTC in both; `data` is a decision's or fact's body as recorded (JSON).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final, Literal, Protocol, get_args

import pyarrow as pa
import pyarrow.parquet as pq

from projections.exports import Kind, Row

Format = Literal["csv", "parquet"]
FORMATS: Final[tuple[str, ...]] = get_args(Format)
MEDIA_TYPES: Final[dict[str, str]] = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}

_LOG: Final = [
    ("seq", pa.int64()),
    ("subject", pa.string()),
    ("type", pa.string()),
    ("time", pa.string()),
]
SCHEMAS: Final[dict[str, pa.Schema]] = {
    "trades": pa.schema(
        [
            ("identifier", pa.int64()),
            ("symbol", pa.string()),
            ("side", pa.string()),
            ("volume", pa.float64()),
            ("strategy", pa.string()),
            ("magic", pa.int64()),
            ("signal", pa.string()),
            ("opened_at", pa.string()),
            ("closed_at", pa.string()),
            ("duration_s", pa.float64()),
            ("price_open", pa.float64()),
            ("close_price", pa.float64()),
            ("sl_open", pa.float64()),
            ("r_multiple", pa.float64()),
            ("gross_profit", pa.float64()),
            ("commission", pa.float64()),
            ("swap", pa.float64()),
            ("fee", pa.float64()),
            ("net_profit", pa.float64()),
            ("reason", pa.string()),
        ]
    ),
    "equity": pa.schema(
        [("minute", pa.string())]
        + [
            (f"{series}_{part}", pa.float64())
            for series in ("equity", "balance")
            for part in ("open", "high", "low", "close")
        ]
        + [("samples", pa.int64())]
    ),
    "decisions": pa.schema([*_LOG, ("fact_seq", pa.int64()), ("data", pa.string())]),
    "facts": pa.schema([*_LOG, ("data", pa.string())]),
}


class Encoder(Protocol):
    def batch(self, rows: Sequence[Row]) -> bytes: ...

    def finish(self) -> bytes: ...


class CsvEncoder:
    def __init__(self, kind: Kind) -> None:
        self.names = SCHEMAS[kind].names
        self._header = True

    def batch(self, rows: Sequence[Row]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if self._header:
            writer.writerow(self.names)
            self._header = False
        writer.writerows(["" if r[n] is None else r[n] for n in self.names] for r in rows)
        return out.getvalue().encode()

    def finish(self) -> bytes:
        return self.batch([]) if self._header else b""


class _Sink(io.RawIOBase):
    """A write-only file that hands what was written to the caller (`take`)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out = b"".join(self._chunks)
        self._chunks.clear()
        return out


class ParquetEncoder:
    def __init__(self, kind: Kind) -> None:
        self.schema = SCHEMAS[kind]
        self._sink = _Sink()
        self._writer = pq.ParquetWriter(self._sink, self.schema)

    def batch(self, rows: Sequence[Row]) -> bytes:
        if rows:
            self._writer.write_batch(pa.RecordBatch.from_pylist(list(rows), schema=self.schema))
        return self._sink.take()

    def finish(self) -> bytes:
        self._writer.close()
        return self._sink.take()


def encoder(kind: Kind, fmt: Format) -> Encoder:
    return CsvEncoder(kind) if fmt == "csv" else ParquetEncoder(kind)


async def encoded(
    batches: AsyncIterator[list[Row]], kind: Kind, fmt: Format
) -> AsyncIterator[bytes]:
    """The export's bytes, a chunk per batch (and the file's end)."""
    enc = encoder(kind, fmt)
    async for rows in batches:
        chunk = enc.batch(rows)
        if chunk:
            yield chunk
    tail = enc.finish()
    if tail:
        yield tail
