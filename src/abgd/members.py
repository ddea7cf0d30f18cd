"""Stream the JSON members of AcousticBrainz archives, whatever their compression.

Shared by ``convert`` (the release's ``.tar.bz2`` feature archives) and ``abgd tag`` (the
final ``.tar.zst`` data dumps, plain ``.tar``, ``.tar.bz2``, ``.tar.gz``). Members are read in
stream mode (``r|``): nothing is extracted to disk and memory holds one member at a time.

Record policy: the file name's MBID is the key (never ``metadata.tags``, which can hold a
redirected MBID). Directories, AppleDouble ``._*`` files, ``.DS_Store`` and other names are
skipped; absolute paths, ``..``, links and device files are rejected with a reason. A member
larger than ``max_member_bytes`` is reported, never read into memory. Errors of the archive
itself (tar, bzip2 or zstd level) raise :class:`ArchiveError` naming it.
"""

from __future__ import annotations

import bz2
import contextlib
import dataclasses
import gzip
import logging
import queue
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

log = logging.getLogger("abgd.members")

DECODERS = ("auto", "lbzip2", "pbzip2", "python")
_UUID = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
#: The release's members: ``<mbid>.json``.
RECORD_NAME = re.compile(_UUID + r"\.json", re.IGNORECASE)
#: The data dumps' members: ``<mbid>-<n>.json`` (n = the submission), or ``<mbid>.json``.
SUBMISSION_NAME = re.compile(_UUID + r"(?:-(\d+))?\.json", re.IGNORECASE)
ERRORS_HEADER = "mbid\tmember\treason\n"
#: A real document is 55–90 kB; anything far larger is not one, and must not be read into memory.
MAX_MEMBER_BYTES = 64 << 20
_PIPE_BUFFER = 1 << 20
#: Decoded bytes per hand-over from the decoder thread, and how many may wait: 4 × 4 MiB in flight.
_CHUNK_BYTES = 4 << 20
_QUEUE_CHUNKS = 4
#: Compressed bytes per call into the decompressor in the decoder thread (see _bz2_chunks).
_RAW_BYTES = 1 << 20


class ArchiveError(RuntimeError):
    """The archive itself is unreadable (tar or bzip2 level): the whole job must fail."""


@dataclasses.dataclass
class Counts:
    """``read`` counts records (members named ``<uuid>.json``); ``read == converted + errored``."""

    read: int = 0
    converted: int = 0
    imputed: int = 0
    errored: int = 0
    skipped: int = 0
    rejected: int = 0
    duplicates: int = 0

    def line(self) -> str:
        return " ".join(f"{k}={v}" for k, v in dataclasses.asdict(self).items())


# ----------------------------------------------------------------------------- members


def classify_member(info: tarfile.TarInfo, pattern: re.Pattern[str] = RECORD_NAME,
                    ) -> tuple[str, str]:
    """Decide what to do with one tar member: ``(action, detail)``.

    action is ``record`` (detail = lowercase MBID, the first group of ``pattern`` matched by
    the base name), ``skip`` or ``reject`` (detail = why).
    Unsafe members are rejected before anything else because their names cannot be trusted.
    """
    name = info.name
    parts = name.split("/")
    if name.startswith("/") or ".." in parts:
        return "reject", "absolute path or '..' in member name"
    if info.issym() or info.islnk():
        return "reject", f"link to {info.linkname!r}"
    if info.ischr() or info.isblk() or info.isfifo():
        return "reject", "device or fifo"
    if info.isdir():
        return "skip", "directory"
    if not info.isreg() or info.issparse():
        return "reject", f"not a regular file (type {info.type!r})"
    base = _base_name(parts)
    if base.startswith("._"):
        return "skip", "AppleDouble file"
    if base == ".DS_Store":
        return "skip", "macOS .DS_Store"
    match = pattern.fullmatch(base)
    if match is None:
        return "skip", "not a <uuid>.json name"
    return "record", match.group(1).lower()


def _base_name(parts: list[str]) -> str:
    """``PurePosixPath(name).name`` from ``name.split("/")``: the last component that is
    neither empty nor ``.`` (a twentieth of the cost, paid per member of a dump)."""
    base = parts[-1]
    if base in ("", "."):
        base = next((part for part in reversed(parts) if part not in ("", ".")), "")
    return base


def _mbid_of_name(name: str, pattern: re.Pattern[str] = RECORD_NAME) -> str | None:
    match = pattern.fullmatch(_base_name(name.split("/")))
    return match.group(1).lower() if match else None


# ----------------------------------------------------------------------------- decoding


def choose_decoder(requested: str) -> str:
    """Resolve ``auto`` to the fastest decoder present; refuse a named one that is absent."""
    if requested == "python":
        return requested
    if requested == "auto":
        return next((d for d in ("lbzip2", "pbzip2") if shutil.which(d)), "python")
    if shutil.which(requested) is None:
        raise ArchiveError(f"decoder {requested!r} is not on PATH (use --decoder auto or python)")
    return requested


def _decoder_command(decoder: str, path: Path, threads: int) -> list[str]:
    if decoder == "lbzip2":
        return ["lbzip2", "-d", "-c", "-n", str(threads), str(path)]
    return ["pbzip2", "-d", "-c", f"-p{threads}", str(path)]


def _drain(stream: IO[bytes]) -> None:
    """Read to the end so the decoder checks the last block (CRC, end-of-stream marker)."""
    while stream.read(_PIPE_BUFFER):
        pass


COMPRESSIONS = {".zst": "zstd", ".tzst": "zstd", ".gz": "gzip", ".tgz": "gzip", ".tar": "none",
                ".bz2": "bzip2", ".tbz2": "bzip2"}


def compression_of(path: Path) -> str:
    """``zstd``, ``gzip``, ``none`` or ``bzip2`` from the file name; refuse anything else."""
    kind = COMPRESSIONS.get(path.suffix.lower())
    if kind is None:
        raise ArchiveError(f"{path}: not a .tar, .tar.bz2, .tar.gz or .tar.zst archive")
    return kind


@contextlib.contextmanager
def _single_stream(path: Path, kind: str) -> Iterator[IO[bytes]]:
    """zstd, gzip or uncompressed bytes, drained at the end so a truncated file fails."""
    try:
        with open(path, "rb") as raw:
            if kind == "zstd":
                import zstandard  # only the dumps need it

                stream: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(
                    raw, read_across_frames=True)
            elif kind == "gzip":
                stream = gzip.GzipFile(fileobj=raw, mode="rb")
            else:
                stream = raw
            with stream:
                yield stream
                _drain(stream)
    except (OSError, EOFError, ValueError) as error:
        raise ArchiveError(f"{path}: corrupt or truncated {kind} data ({error})") from error
    except Exception as error:  # zstandard.ZstdError has no common base with the above
        if type(error).__name__ == "ZstdError":
            raise ArchiveError(f"{path}: corrupt or truncated zstd data ({error})") from error
        raise


def _bz2_chunks(path: Path, max_out: int) -> Iterator[bytes]:
    """Decoded bytes of a (multi-stream) bzip2 file, with the end-of-data rules of ``bz2.open``.

    Why not ``bz2.open(...).read``: it feeds the decompressor 8 KiB at a time, and a decoder
    thread must then win the GIL back from the parsing thread after every few hundred
    microseconds of work (a switch interval of 5 ms each time). 1 MiB of compressed input per
    call keeps the decoder away from the GIL for tens of milliseconds at a time. The next
    compressed block is read *before* a chunk is handed over, while the parser still waits
    for it: read afterwards, the decoder would wait for the busy parser to give the GIL back
    once per block.
    """
    with open(path, "rb") as raw:
        decompressor = bz2.BZ2Decompressor()
        ahead = raw.read(_RAW_BYTES)  # always the next block a plain reader would read
        while True:
            if decompressor.eof:
                rest = decompressor.unused_data
                if not rest:
                    rest, ahead = ahead, b""
                if not rest:
                    return
                decompressor = bz2.BZ2Decompressor()
                try:
                    data = decompressor.decompress(rest, max_out)
                except OSError:
                    return  # trailing bytes after a complete stream are ignored, as bz2.open does
            else:
                block = b""
                if decompressor.needs_input:
                    if not ahead:
                        raise EOFError("Compressed file ended before the end-of-stream marker "
                                       "was reached")
                    block, ahead = ahead, b""
                data = decompressor.decompress(block, max_out)
            if not ahead:
                ahead = raw.read(_RAW_BYTES)
            if data:
                yield data


class _ThreadedBz2:
    """A read-only stream of a bzip2 file decoded by a background thread.

    Why a thread: ``bz2`` releases the GIL inside ``decompress``, so the decoder runs on its own
    core while the caller parses; the bounded queue keeps memory at a few chunks whatever the
    archive size. Decoder errors are handed over and raised by :meth:`read`, in stream order.
    """

    def __init__(self, path: Path, chunk_bytes: int | None = None, depth: int | None = None,
                 ) -> None:
        chunk_bytes = chunk_bytes or _CHUNK_BYTES
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(
            maxsize=depth or _QUEUE_CHUNKS)
        self._stop = threading.Event()
        self._buffer = b""
        self._pos = 0
        self._finished = False
        self._thread = threading.Thread(target=self._decode, args=(path, chunk_bytes),
                                        name="bz2-decoder", daemon=True)
        self._thread.start()

    def _put(self, item: bytes | BaseException) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _decode(self, path: Path, chunk_bytes: int) -> None:
        try:
            for data in _bz2_chunks(path, chunk_bytes):
                if not self._put(data):
                    return
        except BaseException as error:  # handed to the reading thread, which raises it
            self._put(error)
            return
        self._put(b"")

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (fewer at a chunk's end; ``b""`` at the end of the stream)."""
        while self._pos >= len(self._buffer):
            if self._finished:
                return b""
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._finished = True
                raise item
            if not item:
                self._finished = True
                return b""
            self._buffer, self._pos = item, 0
        end = len(self._buffer) if size < 0 else self._pos + size
        data = self._buffer[self._pos:end]
        self._pos += len(data)
        return data

    def close(self) -> None:
        """Stop the decoder (early exit on an error) and wait for it."""
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._thread.join()


@contextlib.contextmanager
def _python_stream(path: Path, threads: int) -> Iterator[IO[bytes]]:
    if threads < 2:
        with bz2.open(path, "rb") as stream:
            yield stream
        return
    stream = _ThreadedBz2(path)
    try:
        yield stream  # type: ignore[misc]
    finally:
        stream.close()


@contextlib.contextmanager
def decompressed(path: Path, decoder: str, threads: int = 1) -> Iterator[IO[bytes]]:
    """Yield the archive's decompressed bytes as a stream; raise ArchiveError if it is corrupt.

    ``decoder`` and ``threads`` apply to bzip2 only; other compressions follow the suffix.
    ``threads`` is the job's budget including the caller's parsing thread: Python's decoder gets
    a thread of its own from 2 up, a decoder subprocess gets ``threads - 1`` (at least one).
    """
    kind = compression_of(path)
    if kind != "bzip2":
        with _single_stream(path, kind) as stream:
            yield stream
        return
    if decoder == "python":
        try:
            with _python_stream(path, threads) as stream:
                yield stream
                _drain(stream)
        except (OSError, EOFError, ValueError) as error:
            raise ArchiveError(f"{path}: corrupt or truncated bzip2 data ({error})") from error
        return
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            _decoder_command(decoder, path, max(1, threads - 1)),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
            bufsize=_PIPE_BUFFER,
        )
        assert proc.stdout is not None
        def decoder_failure() -> ArchiveError | None:
            if proc.returncode in (None, 0):
                return None
            stderr.seek(0)
            message = stderr.read().decode(errors="replace").strip().replace("\n", " | ")
            return ArchiveError(f"{path}: {decoder} exited with status {proc.returncode}: "
                                f"{message}")

        try:
            try:
                yield proc.stdout
            except (tarfile.TarError, EOFError, OSError) as error:
                # A truncated stream usually shows up first as a tar error; the decoder's own
                # message (which has usually exited by then) says more, so prefer it.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=1.0)
                failure = decoder_failure()
                if failure is not None:
                    raise failure from error
                raise
            _drain(proc.stdout)
            proc.wait()
            failure = decoder_failure()
            if failure is not None:
                raise failure
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()


def iter_members(path: Path, decoder: str, threads: int, counts: Counts,
                 max_member_bytes: int = MAX_MEMBER_BYTES,
                 pattern: re.Pattern[str] = RECORD_NAME,
                 ) -> Iterator[tuple[str, str, bytes | None, str | None]]:
    """Yield ``(mbid, member name, bytes or None, reason if None)`` for each record of one archive.

    Skipped and rejected members are counted (and logged) here. Tar or bzip2 errors become an
    :class:`ArchiveError` naming the archive.
    """
    try:
        with decompressed(path, decoder, threads) as stream, \
                tarfile.open(fileobj=stream, mode="r|") as tar:
            for info in tar:
                action, detail = classify_member(info, pattern)
                if action == "skip":
                    counts.skipped += 1
                    log.debug("%s: skipped %s (%s)", path.name, info.name, detail)
                    continue
                if action == "reject":
                    counts.rejected += 1
                    log.warning("%s: rejected member %r: %s", path.name, info.name, detail)
                    mbid = _mbid_of_name(info.name, pattern)
                    if mbid is not None:
                        yield mbid, info.name, None, f"rejected member: {detail}"
                    continue
                if info.size > max_member_bytes:
                    yield detail, info.name, None, f"member too large: {info.size} bytes"
                    continue
                handle = tar.extractfile(info)
                assert handle is not None
                yield detail, info.name, handle.read(), None
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ArchiveError(f"{path}: corrupt or truncated archive ({error})") from error


