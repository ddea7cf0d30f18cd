"""Download one file of the release, resumably, and publish it only once its md5 is verified.

The workflow runs one job per release file so that the multi-GB feature archives come in
parallel and a failure retries only its own file. Zenodo connections drop on large files, so the
bytes received so far are kept in ``PATH.part`` and a retry (or a rerun of the job) asks only
for the rest with an HTTP ``Range`` request. ``PATH`` itself appears only through ``os.replace``
after the checksum matched: Snakemake takes an existing output as finished, so a truncated or
corrupt file there would poison every later step.

Demo datasets are served from a local mirror through the very same code path, either as
``file:`` URLs (``file:relative/path`` resolves against the working directory) or from an HTTP
server on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import http.client
import logging
import os
import re
import ssl
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import BinaryIO

from abgd import __version__
from abgd.io import md5_file
from abgd.progress import parse_step_args, progress, step_parser

log = logging.getLogger("abgd.download")

CHUNK_SIZE = 1 << 20
MAX_BACKOFF_S = 300.0
USER_AGENT = f"abgd-download/{__version__}"
_MD5_RE = re.compile(r"^[0-9a-fA-F]{32}$")
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE_RE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


class DownloadError(RuntimeError):
    """A download that cannot be completed; the message names the file and the cause."""


class ChecksumMismatch(DownloadError):
    """The received bytes do not have the expected md5; nothing is left behind."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"md5 mismatch for {path}: expected {expected}, got {actual} "
            "(the bad copy and its .part were removed)"
        )


class _Transient(Exception):
    """A failure worth retrying that urllib/http.client would not raise by itself.

    ``discard`` says the partial bytes cannot be trusted as a prefix (the server answered a
    different range than asked), so the next attempt starts from byte 0.
    """

    def __init__(self, message: str, discard: bool = False) -> None:
        super().__init__(message)
        self.discard = discard


# --------------------------------------------------------------------------- pure helpers


def parse_md5sums(text: str, source: str = "<md5sums>") -> dict[str, str]:
    """Read ``md5sum`` output (``<md5>  <name>`` or binary-mode ``<md5> *<name>``) into a dict.

    Names keep their spaces; a leading ``./`` is dropped because ``md5sum ./*`` writes it and
    the lookup is by bare file name. A backslash-prefixed line is GNU md5sum's escaped form for
    names containing a newline or backslash. Conflicting duplicates are an error rather than a
    silent choice of one checksum.
    """
    sums: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        escaped = line.startswith("\\")
        if escaped:
            line = line[1:]
        digest, sep, rest = line.partition(" ")
        if not sep or not _MD5_RE.match(digest) or not rest or rest[0] not in " *":
            raise ValueError(f"{source}: line {number} is not '<md5>  <name>': {raw!r}")
        name = rest[1:]
        if escaped:
            name = name.replace("\\\\", "\0").replace("\\n", "\n").replace("\0", "\\")
        name = name.removeprefix("./")
        if not name:
            raise ValueError(f"{source}: line {number} has an empty file name: {raw!r}")
        digest = digest.lower()
        if sums.get(name, digest) != digest:
            raise ValueError(
                f"{source}: line {number} gives {name!r} md5 {digest}, earlier {sums[name]}"
            )
        sums[name] = digest
    return sums


def lookup_md5(md5sums_path: str | os.PathLike[str], name: str) -> str:
    """Expected md5 of ``name`` from an md5sum file, or a DownloadError naming both."""
    path = Path(md5sums_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DownloadError(f"cannot read md5 list {path}: {exc}") from exc
    try:
        sums = parse_md5sums(text, source=str(path))
    except ValueError as exc:
        raise DownloadError(str(exc)) from exc
    if name not in sums:
        raise DownloadError(f"{name} has no entry in md5 list {path}")
    return sums[name]


def normalise_md5(value: str) -> str:
    if not _MD5_RE.match(value):
        raise DownloadError(f"not an md5 (32 hex digits): {value!r}")
    return value.lower()


def resolve_url(url: str, cwd: str | os.PathLike[str]) -> str:
    """Return an absolute URL: ``file:`` paths are made absolute against ``cwd``.

    ``file:resources/x`` is relative (no ``//``) so the Snakefile can name the mirror inside
    the working directory; ``file:///abs`` and ``file://localhost/abs`` are absolute. Query
    and fragment are dropped for files, which lets a mirror reuse Zenodo's ``?download=1``
    URL pattern. Other schemes and remote file hosts are refused up front so the error names
    the URL instead of surfacing as an obscure urllib failure.
    """
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        if not parts.netloc:
            raise DownloadError(f"URL has no host: {url}")
        return url
    if scheme != "file":
        raise DownloadError(f"unsupported URL scheme {parts.scheme or '(none)'!r}: {url}")
    if parts.netloc not in ("", "localhost"):
        raise DownloadError(f"file: URL names a remote host {parts.netloc!r}: {url}")
    raw_path = urllib.parse.unquote(parts.path)
    if not raw_path:
        raise DownloadError(f"file: URL has no path: {url}")
    path = Path(raw_path)
    if not path.is_absolute():
        path = Path(cwd) / path
    return Path(os.path.normpath(path)).as_uri()


def backoff_delay(attempt: int, backoff: float, cap: float = MAX_BACKOFF_S) -> float:
    """Seconds to wait before retry number ``attempt + 1``: exponential, capped."""
    return min(backoff * 2.0**attempt, cap)


def parse_content_range(value: str) -> tuple[int, int, int | None]:
    """``bytes start-end/total`` -> (start, end inclusive, total or None for ``*``)."""
    match = _CONTENT_RANGE_RE.match(value)
    if not match:
        raise ValueError(f"malformed Content-Range {value!r}")
    start, end = int(match[1]), int(match[2])
    total = None if match[3] == "*" else int(match[3])
    if end < start or (total is not None and end >= total):
        raise ValueError(f"inconsistent Content-Range {value!r}")
    return start, end, total


def is_transient(exc: BaseException) -> bool:
    """Whether retrying could help: network hiccups and server overload, not 4xx or disk errors."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code == 429 or 500 <= exc.code < 600
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return isinstance(reason, BaseException) and is_transient(reason)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    return isinstance(
        exc,
        _Transient | http.client.HTTPException | ConnectionError | TimeoutError | ssl.SSLError,
    )


# --------------------------------------------------------------------------- transports


@dataclass
class _Body:
    """An open response body that starts at byte ``start`` of the file."""

    stream: BinaryIO
    start: int
    end: int | None  # exclusive size the body should reach, when known
    total: int | None  # full size of the file, when known


@dataclass
class _Validator:
    """What the first response said about the file, to make later Range requests safe."""

    if_range: str | None = None
    headers_seen: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def _open_file(url: str, offset: int) -> Iterator[_Body]:
    path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, after the body is consumed
    except OSError as exc:
        raise DownloadError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise DownloadError(f"not a regular file: {path}")
        size = info.st_size
        start = offset if offset <= size else 0
        handle.seek(start)
        yield _Body(stream=handle, start=start, end=size, total=size)


def _header(message: Message, name: str) -> str | None:
    value = message.get(name)
    return value.strip() if isinstance(value, str) else None


@contextlib.contextmanager
def _open_http(url: str, offset: int, timeout: float, validator: _Validator) -> Iterator[_Body]:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
        if validator.if_range:
            headers["If-Range"] = validator.if_range
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or offset == 0:
            raise
        exc.close()
        response = None
        unsatisfied = _unsatisfiable_range(exc.headers, offset)
    if response is None:
        yield unsatisfied
        return
    with response:
        _remember_validator(response.headers, validator)
        encoding = _header(response.headers, "Content-Encoding")
        if encoding and encoding.lower() != "identity":
            raise DownloadError(f"server sent Content-Encoding {encoding!r} for {url}")
        length_text = _header(response.headers, "Content-Length")
        length = int(length_text) if length_text and length_text.isdigit() else None
        if response.status == 206:
            yield _partial_body(response, length, offset)
        elif response.status == 200:
            yield _Body(stream=response, start=0, end=length, total=length)
        else:
            raise _Transient(f"unexpected HTTP status {response.status}")


def _unsatisfiable_range(headers: Message, offset: int) -> _Body:
    """416: the .part is already complete (size matches) or longer than the file (start over)."""
    match = _UNSATISFIED_RANGE_RE.match(_header(headers, "Content-Range") or "")
    if match and int(match[1]) == offset:
        return _Body(stream=_Empty(), start=offset, end=offset, total=offset)
    raise _Transient(f"server cannot serve bytes from {offset} (416); restarting from 0", True)


class _Empty:
    def read(self, _size: int = -1) -> bytes:
        return b""


def _partial_body(response: BinaryIO, length: int | None, offset: int) -> _Body:
    content_range = _header(response.headers, "Content-Range")  # type: ignore[attr-defined]
    if content_range is None:
        raise _Transient("206 response without Content-Range; restarting from 0", True)
    try:
        start, end, total = parse_content_range(content_range)
    except ValueError as exc:
        raise _Transient(f"{exc}; restarting from 0", True) from exc
    if start != offset:
        raise _Transient(
            f"asked for bytes from {offset}, server sent {content_range}; restarting from 0",
            True,
        )
    if length is not None and length != end - start + 1:
        raise _Transient(
            f"Content-Length {length} disagrees with Content-Range {content_range}", True
        )
    return _Body(stream=response, start=start, end=end + 1, total=total)


def _remember_validator(headers: Message, validator: _Validator) -> None:
    """Keep a strong ETag (or Last-Modified) so a later Range is refused if the file changed."""
    if validator.if_range:
        return
    etag = _header(headers, "ETag")
    if etag and not etag.startswith("W/"):
        validator.if_range = etag
    else:
        validator.if_range = _header(headers, "Last-Modified")


# --------------------------------------------------------------------------- the download


@dataclass
class _Part:
    """The ``.part`` file and the md5 of the bytes it holds, carried across attempts."""

    path: Path
    size: int = 0
    digest: hashlib._Hash = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))

    def sync_with_disk(self) -> None:
        """Re-hash only if the file is not what the last attempt left (e.g. a rerun)."""
        try:
            info = self.path.lstat()
        except FileNotFoundError:
            self.reset()
            return
        if not stat.S_ISREG(info.st_mode):
            raise DownloadError(f"{self.path} exists and is not a regular file; refusing to write")
        if info.st_size == self.size:
            return
        self.size, self.digest = 0, hashlib.md5(usedforsecurity=False)
        with open(self.path, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                self.digest.update(chunk)
                self.size += len(chunk)

    def reset(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.size, self.digest = 0, hashlib.md5(usedforsecurity=False)

    @contextlib.contextmanager
    def open_at(self, start: int) -> Iterator[BinaryIO]:
        """Open for appending at ``start`` (0 truncates); O_NOFOLLOW keeps writes in the folder."""
        if start == 0 and self.size:
            log.info("server sent the whole file; discarding %d partial bytes", self.size)
            self.reset()
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise DownloadError(f"{self.path} is a symlink; refusing to write") from exc
            raise
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())

    def append(self, handle: BinaryIO, chunk: bytes) -> None:
        handle.write(chunk)
        self.digest.update(chunk)
        self.size += len(chunk)


def _check_destination(dest: Path) -> None:
    """Refuse destinations that would write somewhere other than the named file."""
    if dest.name in ("", ".", ".."):
        raise DownloadError(f"output path has no file name: {dest}")
    for candidate in (dest, dest.with_name(dest.name + ".part")):
        if candidate.is_symlink():
            raise DownloadError(f"{candidate} is a symlink; refusing to write through it")
        if candidate.exists() and not candidate.is_file():
            raise DownloadError(f"{candidate} exists and is not a regular file")


def _attempt(url: str, part: _Part, timeout: float, validator: _Validator, name: str) -> int:
    """One request: append what the server sends to ``part``; return the bytes received."""
    part.sync_with_disk()
    offset = part.size
    opener = (
        _open_file(url, offset)
        if url.startswith("file:")
        else _open_http(url, offset, timeout, validator)
    )
    received = 0
    with opener as body:
        if offset and body.start == offset:
            log.info("resuming %s at byte %d", name, offset)
        with part.open_at(body.start) as handle, progress(
            total=body.total, initial=body.start, unit="B", unit_scale=True,
            unit_divisor=1024, desc=name,
        ) as bar:
            while chunk := body.stream.read(CHUNK_SIZE):
                part.append(handle, chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if body.end is not None and part.size < body.end:
            raise _Transient(f"connection ended at byte {part.size} of {body.end}")
        if body.end is not None and part.size > body.end:
            raise _Transient(
                f"received {part.size} bytes, more than the announced {body.end}", True
            )
        if body.total is not None and part.size < body.total:
            raise _Transient(f"server sent bytes up to {part.size} of {body.total}")
    return received


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, urllib.error.HTTPError):
        value = _header(exc.headers, "Retry-After") if exc.headers else None
        if value and value.isdigit():
            return float(value)
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc.reason).__name__}: {exc.reason}"
    text = str(exc) or type(exc).__name__
    return " ".join(f"{type(exc).__name__}: {text}".split())


def _verify(dest: Path, part: _Part, expected_md5: str | None) -> str:
    """Check the md5 of the bytes in ``part``; on mismatch remove everything and raise."""
    actual = part.digest.hexdigest()
    if expected_md5 is not None and actual != expected_md5:
        part.reset()
        with contextlib.suppress(FileNotFoundError):
            dest.unlink()
        raise ChecksumMismatch(dest, expected_md5, actual)
    return actual


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    expected_md5: str | None = None,
    retries: int = 5,
    backoff: float = 2.0,
    timeout: float = 60.0,
) -> str:
    """Download ``url`` into ``dest`` (resuming ``dest.part``), verify it, return its md5.

    ``retries`` counts the attempts after the first. Transient failures keep the partial bytes,
    so even after the last retry a rerun of the job continues where this one stopped.
    """
    dest = Path(dest)
    url = resolve_url(url, Path.cwd())
    expected = normalise_md5(expected_md5) if expected_md5 is not None else None
    if retries < 0 or backoff < 0 or timeout <= 0:
        raise DownloadError("retries and backoff must be >= 0 and timeout > 0")
    _check_destination(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if expected is not None and dest.is_file():
        if md5_file(dest) == expected:
            log.info("%s already present with md5 %s; nothing to download", dest, expected)
            return expected
        log.warning("%s exists with a different md5; removing it and downloading again", dest)
        dest.unlink()

    log.info("downloading %s -> %s", url, dest)
    part = _Part(dest.with_name(dest.name + ".part"))
    validator = _Validator()
    started = time.monotonic()
    received = 0
    for attempt in range(retries + 1):
        try:
            received += _attempt(url, part, timeout, validator, dest.name)
            break
        except Exception as exc:
            if isinstance(exc, DownloadError):
                raise
            reason = _describe(exc)
            if not is_transient(exc):
                raise DownloadError(f"{dest.name}: {reason} ({url})") from exc
            if attempt == retries:
                raise DownloadError(
                    f"{dest.name}: giving up after {retries + 1} attempts, last: {reason} "
                    f"({url}); {part.size} bytes kept in {part.path} for a rerun"
                ) from exc
            if isinstance(exc, _Transient) and exc.discard:
                part.reset()
            delay = backoff_delay(attempt, backoff)
            server_delay = _retry_after(exc)
            if server_delay is not None:
                delay = min(max(delay, server_delay), MAX_BACKOFF_S)
            log.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.2f s",
                dest.name, attempt + 1, retries + 1, reason, delay,
            )
            time.sleep(delay)

    digest = _verify(dest, part, expected)
    os.replace(part.path, dest)
    _fsync_dir(dest.parent)
    seconds = max(time.monotonic() - started, 1e-9)
    if expected is None:
        log.warning("%s: no expected md5 given; computed md5 is %s", dest.name, digest)
    log.info(
        "done %s: %d bytes (%d transferred) in %.2f s, %.2f MB/s, md5 %s",
        dest.name, part.size, received, seconds, received / seconds / 1e6, digest,
    )
    return digest


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; some file systems refuse to open folders, which is harmless."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(
        prog="python -m abgd.download",
        description="Download one release file resumably and publish it only after md5 checks.",
    )
    parser.add_argument("--url", required=True,
                        help="http(s) URL, file:relative/path (against the cwd) or file:///abs")
    parser.add_argument("--out", required=True, type=Path,
                        help="destination file; partial bytes live in OUT.part")
    checks = parser.add_mutually_exclusive_group()
    checks.add_argument("--md5", help="expected md5 (32 hex digits)")
    checks.add_argument("--md5sums", type=Path,
                        help="md5sum-format file holding an entry for OUT's file name")
    parser.add_argument("--retries", type=int, default=5,
                        help="retries after the first attempt (default 5)")
    parser.add_argument("--backoff", type=float, default=2.0,
                        help="first retry delay in s, doubled each retry (default 2.0)")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="socket timeout in s (default 60)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    try:
        expected = args.md5
        if args.md5sums is not None:
            expected = lookup_md5(args.md5sums, args.out.name)
        fetch(args.url, args.out, expected, args.retries, args.backoff, args.timeout)
    except DownloadError as exc:
        log.error("download failed: %s", " ".join(str(exc).split()))
        return 1
    except OSError as exc:
        log.error("download failed: %s: %s", args.out, " ".join(str(exc).split()))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
