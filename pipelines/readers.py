"""Read one CUR source file as a stream of Arrow record batches, under the source's own names.

CSV is read with every column as text, so that the conversion to the contract's types happens
in one place (``conform``) where a bad value can be named by row and column. Parquet keeps
its own types. Errors from pyarrow, gzip and zip are translated here into ``InputError``.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.errors import InputError

#: Rows are handed on in batches of about this much text: fewer, larger calls per column.
BATCH_BYTES = 8 << 20
#: Arrow's CSV reader reads up to 32 blocks ahead of the rows taken from it, whatever the
#: options say: blocks of 1 MB bound that to 32 MB of text a file (8 MB blocks held 256 MB).
CSV_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class SourceBatch:
    """A batch of source rows; ``first_row`` is the 1-based data row of its first row."""

    batch: pa.RecordBatch
    first_row: int


def file_kind(path: Path) -> str:
    """'csv', 'csv.gz', 'csv.zip' or 'parquet', by the file's name."""
    name = path.name.lower()
    for suffix in ("csv.gz", "csv.zip", "parquet", "csv"):
        if name.endswith("." + suffix):
            return suffix
    if name.endswith(".gz"):
        return "csv.gz"
    if name.endswith(".zip"):
        return "csv.zip"
    raise InputError(
        str(path), "not a CUR data file", expected=".csv, .csv.gz, .csv.zip or .parquet"
    )


def read_batches(path: Path) -> Iterator[SourceBatch]:
    """Yield the file's rows in batches, with the source's column names."""
    kind = file_kind(path)
    if kind == "parquet":
        yield from _parquet_batches(path)
    else:
        yield from _csv_batches(path, kind)


def source_columns(path: Path) -> list[str]:
    """The file's column names, without reading its rows."""
    if file_kind(path) == "parquet":
        try:
            return pq.read_schema(path).names
        except (pa.ArrowException, OSError) as error:
            raise InputError(str(path), f"corrupt or truncated Parquet file ({error})") from None
    with _open_text_source(path, file_kind(path)) as raw:
        return _csv_header(path, raw)


def _parquet_batches(path: Path) -> Iterator[SourceBatch]:
    try:
        parquet = pq.ParquetFile(path)
        first_row = 1
        for batch in parquet.iter_batches(batch_size=65_536):
            yield SourceBatch(batch, first_row)
            first_row += batch.num_rows
    except (pa.ArrowException, OSError) as error:
        raise InputError(str(path), f"corrupt or truncated Parquet file ({error})") from None


def _csv_batches(path: Path, kind: str) -> Iterator[SourceBatch]:
    with _open_text_source(path, kind) as raw:
        header = _csv_header(path, raw)
        raw.seek(0)
        if kind in ("csv", "csv.gz"):
            # Arrow's own gzip stream: inflated in C++ without the GIL or Python buffers, so
            # two files are read at once on two cores. (Arrow skips a UTF-8 BOM itself.)
            compression = "gzip" if kind == "csv.gz" else None
            with pa.input_stream(str(path), compression=compression) as native:
                yield from _csv_stream_batches(path, kind, header, native)
        else:
            yield from _csv_stream_batches(path, kind, header, raw)


def _csv_stream_batches(
    path: Path, kind: str, header: list[str], raw: BinaryIO | pa.NativeFile
) -> Iterator[SourceBatch]:
    # Every column as text: types are applied by conform, which can name a bad cell.
    # An empty field (quoted or not) is NULL, as the contract has it, straight from the parser.
    read_options = pacsv.ReadOptions(
        column_names=header, skip_rows=1, block_size=CSV_BLOCK_BYTES, encoding="utf8"
    )
    parse_options = pacsv.ParseOptions(newlines_in_values=True)
    convert_options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    first_row = 1
    try:
        reader = pacsv.open_csv(
            raw,
            read_options=read_options,
            parse_options=parse_options,
            convert_options=convert_options,
        )
        gathered: list[pa.RecordBatch] = []
        gathered_bytes = 0
        for batch in reader:
            gathered.append(batch)
            gathered_bytes += batch.nbytes
            if gathered_bytes >= BATCH_BYTES:
                joined = pa.concat_batches(gathered)
                yield SourceBatch(joined, first_row)
                first_row += joined.num_rows
                gathered, gathered_bytes = [], 0
        if gathered:
            yield SourceBatch(pa.concat_batches(gathered), first_row)
    except (pa.ArrowInvalid, pa.ArrowException) as error:
        located = _locate_csv_problem(path, kind, header)
        if located is not None:
            raise located from None
        raise InputError(
            str(path), f"malformed CSV near row {first_row} ({_first_line(error)})"
        ) from None
    except (EOFError, OSError, zlib.error, zipfile.BadZipFile) as error:
        raise InputError(str(path), f"truncated or corrupt {kind} file ({error})") from None


@contextmanager
def _open_text_source(path: Path, kind: str) -> Iterator[BinaryIO]:
    """A seekable binary stream of the CSV text, decompressed, with a UTF-8 BOM removed."""
    with ExitStack() as opened:
        try:
            if kind == "csv.gz":
                stream: BinaryIO = opened.enter_context(gzip.open(path, "rb"))  # type: ignore[arg-type]
            elif kind == "csv.zip":
                stream = _zip_member(path, opened.enter_context(zipfile.ZipFile(path)))
                opened.enter_context(stream)
            else:
                stream = opened.enter_context(open(path, "rb"))
        except (OSError, zipfile.BadZipFile) as error:
            raise InputError(str(path), f"cannot open ({error})") from None
        yield _BomSkipping(stream, path, kind)  # type: ignore[misc]


def _zip_member(path: Path, archive: zipfile.ZipFile) -> BinaryIO:
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) != 1:
        raise InputError(
            str(path),
            f"zip holds {len(members)} files",
            expected="exactly one CSV file, as AWS delivers it",
        )
    return archive.open(members[0])  # type: ignore[return-value]


class _BomSkipping(io.RawIOBase):
    """Wraps a stream, hides a leading UTF-8 BOM, and turns decompression errors into ours."""

    def __init__(self, stream: BinaryIO, path: Path, kind: str) -> None:
        self._stream = stream
        self._path = path
        self._kind = kind
        self._skip = 3 if self._peek_bom() else 0
        self._stream.seek(self._skip)

    def _peek_bom(self) -> bool:
        try:
            head = self._stream.read(3)
        except (EOFError, OSError, zlib.error) as error:
            raise InputError(
                str(self._path), f"truncated or corrupt {self._kind} file ({error})"
            ) from None
        self._stream.seek(0)
        return head == b"\xef\xbb\xbf"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            return self._stream.seek(offset + self._skip) - self._skip
        return self._stream.seek(offset, whence) - self._skip

    def tell(self) -> int:
        return self._stream.tell() - self._skip

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        try:
            data = self._stream.read(len(buffer))
        except (EOFError, OSError, zlib.error) as error:
            raise InputError(
                str(self._path), f"truncated or corrupt {self._kind} file ({error})"
            ) from None
        buffer[: len(data)] = data
        return len(data)


def _csv_header(path: Path, raw: BinaryIO) -> list[str]:
    first = raw.readline()
    while first and not first.strip():
        first = raw.readline()
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(
            str(path), "header is not UTF-8 text", expected="a CUR CSV header"
        ) from None
    header = next(csv.reader([text]), [])
    if not header:
        raise InputError(str(path), "file is empty", expected="a CUR CSV header")
    return [name.strip() for name in header]


def _locate_csv_problem(path: Path, kind: str, header: list[str]) -> InputError | None:
    """Find the row behind an Arrow CSV error, which names neither row nor column.

    Only on the error path: the file is read again with Python's csv module, line by line,
    to find the first line that is not UTF-8 or the first row with the wrong number of fields.
    """
    state = {"line": 1}

    def decoded_lines(raw: BinaryIO) -> Iterator[str]:
        raw.readline()  # the header, already checked
        for line in raw:
            state["line"] += 1
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError:
                raise _not_utf8(path, header, line, state["line"]) from None

    # Python's own limit (128 kB a field) is not ours: the row is measured below instead.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    with _open_text_source(path, kind) as raw:
        buffered = io.BufferedReader(raw)  # type: ignore[arg-type]
        try:
            for row, fields in enumerate(csv.reader(decoded_lines(buffered)), start=1):
                if len(fields) != len(header):
                    return InputError(
                        str(path),
                        f"{len(fields)} fields (line {state['line']})",
                        row=row,
                        expected=f"{len(header)} fields, as many as the header has",
                    )
                if sum(map(len, fields)) > CSV_BLOCK_BYTES:
                    # Arrow cannot read a row longer than its block ("straddles two block
                    # boundaries"); real CUR rows are a few kB.
                    longest = max(range(len(fields)), key=lambda i: len(fields[i]))
                    return InputError(
                        str(path),
                        f"a row of {sum(map(len, fields)):,} characters "
                        f"({len(fields[longest]):,} in this column)",
                        row=row,
                        column=header[longest],
                        expected=f"rows of at most {CSV_BLOCK_BYTES:,} bytes",
                    )
        except InputError as error:
            return error
        except csv.Error as error:
            return InputError(str(path), f"malformed CSV at line {state['line']} ({error})")
    return None


def _not_utf8(path: Path, header: list[str], line: bytes, number: int) -> InputError:
    fields = next(csv.reader([line.decode("utf-8", errors="replace")]), [])
    bad = next((i for i, field in enumerate(fields) if "\ufffd" in field), None)
    column = header[bad] if bad is not None and bad < len(header) else None
    problem = f"line {number} is not UTF-8 text"
    return InputError(str(path), problem, column=column, expected="UTF-8, as AWS writes it")


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
