"""Tests for abgd.download against local files and throw-away HTTP servers on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import random
import re
import socket
import tempfile
import threading
import urllib.error
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abgd.download import (
    ChecksumMismatch,
    DownloadError,
    backoff_delay,
    fetch,
    is_transient,
    main,
    parse_content_range,
    parse_md5sums,
    resolve_url,
)

PAYLOAD = random.Random(20190401).randbytes(300_000)
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()
CUT = 100_000  # where the flaky server drops the connection
FAST = {"retries": 3, "backoff": 0.01, "timeout": 5.0}


# --------------------------------------------------------------------------- local HTTP server


class _Handler(http.server.BaseHTTPRequestHandler):
    timeout = 5  # a stuck client must not hang the test run

    def do_GET(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        with server.lock:
            index = len(server.requests)
            server.requests.append({k: v for k, v in self.headers.items()})
        server.behaviour(self, index)

    def log_message(self, format: str, *args: object) -> None:
        return


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, behaviour: Callable[[_Handler, int], None]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/files/archive.tar.bz2?download=1"


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[_Handler, int], None]], _Server]]:
    started: list[tuple[_Server, threading.Thread]] = []

    def start(behaviour: Callable[[_Handler, int], None]) -> _Server:
        server = _Server(behaviour)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _send(handler: _Handler, status: int, body: bytes, headers: dict[str, str]) -> None:
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)


def _requested_start(handler: _Handler) -> int | None:
    match = re.fullmatch(r"bytes=(\d+)-", handler.headers.get("Range", ""))
    return int(match[1]) if match else None


def honour_range(payload: bytes = PAYLOAD, drop_first: bool = False) -> Callable:
    """A well-behaved server; optionally cuts the first response after CUT bytes."""

    def behaviour(handler: _Handler, index: int) -> None:
        start = _requested_start(handler)
        if start is not None and start >= len(payload):
            _send(handler, 416, b"", {"Content-Range": f"bytes */{len(payload)}"})
            return
        if start is None:
            status, body, headers = 200, payload, {}
        else:
            body = payload[start:]
            status = 206
            headers = {"Content-Range": f"bytes {start}-{len(payload) - 1}/{len(payload)}"}
        headers["Content-Length"] = str(len(body))
        if drop_first and index == 0:
            _send(handler, status, body[:CUT], headers)
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)
            handler.close_connection = True
            return
        _send(handler, status, body, headers)

    return behaviour


def always(status: int, body: bytes = b"", drop_first: bool = False) -> Callable:
    def behaviour(handler: _Handler, index: int) -> None:
        data = body[:CUT] if drop_first and index == 0 else body
        _send(handler, status, data, {"Content-Length": str(len(body))})
        if drop_first and index == 0:
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)

    return behaviour


def statuses_then(codes: list[int], then: Callable) -> Callable:
    def behaviour(handler: _Handler, index: int) -> None:
        if index < len(codes):
            _send(handler, codes[index], b"busy", {"Content-Length": "4"})
        else:
            then(handler, index)

    return behaviour


def part_of(path: Path) -> Path:
    return path.with_name(path.name + ".part")


# --------------------------------------------------------------------------- pure helpers


def test_parse_md5sums_formats() -> None:
    text = (
        "# made by md5sum\n"
        "\n"
        "db7157b5112022d609652dd21c632090  acousticbrainz-mediaeval-features--train-01.tar.bz2\n"
        "79581967A1BE5C52E83BE21261D1EF6C *./train 23.tar.bz2\r\n"
        "\\0e48fa319fa48e5cf95eea8118d2e882  odd\\\\name\\nx\n"
    )
    assert parse_md5sums(text) == {
        "acousticbrainz-mediaeval-features--train-01.tar.bz2": "db7157b5112022d609652dd21c632090",
        "train 23.tar.bz2": "79581967a1be5c52e83be21261d1ef6c",
        "odd\\name\nx": "0e48fa319fa48e5cf95eea8118d2e882",
    }


@pytest.mark.parametrize(
    "line",
    ["xyz  file", "db7157b5112022d609652dd21c632090", "db7157b5112022d609652dd21c632090 file"],
)
def test_parse_md5sums_rejects_malformed_line(line: str) -> None:
    with pytest.raises(ValueError, match=r"sums\.txt: line 2"):
        parse_md5sums(f"00000000000000000000000000000000  ok\n{line}\n", source="sums.txt")


def test_parse_md5sums_rejects_conflicting_duplicate() -> None:
    text = "0" * 32 + "  a\n" + "1" * 32 + "  a\n"
    with pytest.raises(ValueError, match="'a'"):
        parse_md5sums(text)


_names = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters="\\"
    ),
    min_size=1, max_size=30,
).filter(lambda n: not n.startswith("./") and n.strip() == n and not n.startswith("#"))


@given(st.dictionaries(_names, st.from_regex(r"[0-9a-f]{32}", fullmatch=True), max_size=8))
def test_parse_md5sums_round_trip(sums: dict[str, str]) -> None:
    text = "".join(f"{digest}  {name}\n" for name, digest in sums.items())
    assert parse_md5sums(text) == sums


def test_resolve_url(tmp_path: Path) -> None:
    assert resolve_url("file:resources/mirror/demo/x.tsv.bz2", tmp_path) == (
        tmp_path / "resources" / "mirror" / "demo" / "x.tsv.bz2"
    ).as_uri()
    assert resolve_url("file:///data/a%20b.tar.bz2?download=1", tmp_path) == "file:///data/a%20b.tar.bz2"
    assert resolve_url("file://localhost/data/a", tmp_path) == "file:///data/a"
    assert resolve_url("file:./m/../n/a", tmp_path) == (tmp_path / "n" / "a").as_uri()
    url = "https://zenodo.org/record/2553414/files/a.tar.bz2?download=1"
    assert resolve_url(url, tmp_path) == url
    for bad in ("ftp://host/a", "zenodo.org/a", "file://elsewhere/a", "http:///nohost"):
        with pytest.raises(DownloadError):
            resolve_url(bad, tmp_path)


def test_backoff_delay_doubles_and_caps() -> None:
    assert [backoff_delay(a, 2.0) for a in range(4)] == [2.0, 4.0, 8.0, 16.0]
    assert backoff_delay(20, 2.0) == 300.0
    assert backoff_delay(3, 0.5, cap=1.0) == 1.0


def test_parse_content_range() -> None:
    assert parse_content_range("bytes 100-299/300") == (100, 299, 300)
    assert parse_content_range("bytes 0-9/*") == (0, 9, None)
    for bad in ("bytes 5-4/10", "bytes 0-10/10", "items 0-1/2", "bytes */10"):
        with pytest.raises(ValueError):
            parse_content_range(bad)


def test_is_transient() -> None:
    def http_error(code: int) -> urllib.error.HTTPError:
        return urllib.error.HTTPError("http://127.0.0.1/", code, "x", None, None)  # type: ignore[arg-type]

    assert is_transient(http_error(503)) and is_transient(http_error(429))
    assert not is_transient(http_error(404)) and not is_transient(http_error(403))
    assert is_transient(ConnectionResetError()) and is_transient(TimeoutError())
    assert is_transient(urllib.error.URLError(ConnectionRefusedError()))
    assert not is_transient(urllib.error.URLError("unknown url type"))
    assert not is_transient(OSError(28, "No space left on device"))


# --------------------------------------------------------------------------- file: URLs


def test_fetch_relative_file_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror = tmp_path / "resources" / "mirror" / "demo"
    mirror.mkdir(parents=True)
    (mirror / "a.tar.bz2").write_bytes(PAYLOAD)
    monkeypatch.chdir(tmp_path)
    dest = tmp_path / "resources" / "demo" / "a.tar.bz2"
    assert fetch("file:resources/mirror/demo/a.tar.bz2", dest, PAYLOAD_MD5, **FAST) == PAYLOAD_MD5
    assert dest.read_bytes() == PAYLOAD
    assert not part_of(dest).exists()


def test_fetch_absolute_file_url_without_md5_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "mirror dir" / "a.tsv.bz2"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    dest = tmp_path / "out" / "a.tsv.bz2"
    with caplog.at_level("INFO", logger="abgd.download"):
        assert fetch(source.as_uri(), dest, None, **FAST) == PAYLOAD_MD5
    assert dest.read_bytes() == PAYLOAD
    assert any("no expected md5" in r.message and PAYLOAD_MD5 in r.message for r in caplog.records)
    done = [r.message for r in caplog.records if r.message.startswith("done")]
    assert len(done) == 1 and "MB/s" in done[0] and f"{len(PAYLOAD)} bytes" in done[0]


def test_missing_file_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"nope\.bz2"):
        fetch((tmp_path / "nope.bz2").as_uri(), tmp_path / "out" / "x", None, **FAST)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=len(PAYLOAD) + 500))
def test_file_resume_from_any_partial_prefix(prefix: int) -> None:
    """A .part left by a dead job is continued; one longer than the file is discarded."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "src.bin"
        source.write_bytes(PAYLOAD)
        dest = Path(folder) / "out" / "dest.bin"
        dest.parent.mkdir()
        stale = PAYLOAD[:prefix] + b"\xff" * max(0, prefix - len(PAYLOAD))
        part_of(dest).write_bytes(stale)
        assert fetch(source.as_uri(), dest, PAYLOAD_MD5, **FAST) == PAYLOAD_MD5
        assert dest.read_bytes() == PAYLOAD
        assert not part_of(dest).exists()


def test_refuses_symlink_destination(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(PAYLOAD)
    elsewhere = tmp_path / "elsewhere.bin"
    elsewhere.write_bytes(b"keep")
    (tmp_path / "out").mkdir()
    for link in (tmp_path / "out" / "a.bin", part_of(tmp_path / "out" / "b.bin")):
        link.symlink_to(elsewhere)
    for dest in (tmp_path / "out" / "a.bin", tmp_path / "out" / "b.bin"):
        with pytest.raises(DownloadError, match="symlink"):
            fetch(source.as_uri(), dest, PAYLOAD_MD5, **FAST)
    assert elsewhere.read_bytes() == b"keep"


# --------------------------------------------------------------------------- HTTP


def test_http_plain_download(tmp_path: Path, serve: Callable) -> None:
    server = serve(honour_range())
    dest = tmp_path / "a.tar.bz2"
    assert fetch(server.url, dest, PAYLOAD_MD5.upper(), **FAST) == PAYLOAD_MD5
    assert dest.read_bytes() == PAYLOAD
    assert len(server.requests) == 1 and "Range" not in server.requests[0]


def test_http_resumes_after_dropped_connection(tmp_path: Path, serve: Callable) -> None:
    server = serve(honour_range(drop_first=True))
    dest = tmp_path / "a.tar.bz2"
    assert fetch(server.url, dest, PAYLOAD_MD5, **FAST) == PAYLOAD_MD5
    assert dest.read_bytes() == PAYLOAD
    assert len(server.requests) == 2
    match = re.fullmatch(r"bytes=(\d+)-", server.requests[1]["Range"])
    assert match and 0 < int(match[1]) <= CUT


def test_http_rerun_continues_existing_part(tmp_path: Path, serve: Callable) -> None:
    server = serve(honour_range())
    dest = tmp_path / "a.tar.bz2"
    part_of(dest).write_bytes(PAYLOAD[:12345])
    assert fetch(server.url, dest, PAYLOAD_MD5, **FAST) == PAYLOAD_MD5
    assert dest.read_bytes() == PAYLOAD
    assert [r.get("Range") for r in server.requests] == ["bytes=12345-"]


def test_http_complete_part_answered_416(tmp_path: Path, serve: Callable) -> None:
    server = serve(honour_range())
    dest = tmp_path / "a.tar.bz2"
    part_of(dest).write_bytes(PAYLOAD)
    assert fetch(server.url, dest, PAYLOAD_MD5, **FAST) == PAYLOAD_MD5
    assert dest.read_bytes() == PAYLOAD
    assert [r.get("Range") for r in server.requests] == [f"bytes={len(PAYLOAD)}-"]


def test_http_server_ignoring_range(tmp_path: Path, serve: Callable) -> None:
    server = serve(always(200, PAYLOAD, drop_first=True))
    dest = tmp_path / "a.tar.bz2"
    part_of(dest).write_bytes(b"\x00" * 5000)  # garbage that a 200 must overwrite, not extend
    assert fetch(server.url, dest, PAYLOAD_MD5, **FAST) == PAYLOAD_MD5
    assert dest.read_bytes() == PAYLOAD
    assert len(server.requests) == 2
    assert server.requests[0]["Range"] == "bytes=5000-"
    assert server.requests[1]["Range"] == f"bytes={CUT}-"


def test_http_wrong_content_range_restarts(tmp_path: Path, serve: Callable) -> None:
    def behaviour(handler: _Handler, index: int) -> None:
        if _requested_start(handler) is not None:  # answers a different range than asked
            _send(handler, 206, PAYLOAD[:10], {
                "Content-Range": f"bytes 0-9/{len(PAYLOAD)}", "Content-Length": "10"})
        else:
            _send(handler, 200, PAYLOAD, {"Content-Length": str(len(PAYLOAD))})

    server = serve(behaviour)
    dest = tmp_path / "a.tar.bz2"
    part_of(dest).write_bytes(PAYLOAD[:777])
    assert fetch(server.url, dest, PAYLOAD_MD5, **FAST) == PAYLOAD_MD5
    assert dest.read_bytes() == PAYLOAD
    assert [r.get("Range") for r in server.requests] == ["bytes=777-", None]


def test_http_corrupt_file(tmp_path: Path, serve: Callable) -> None:
    corrupt = bytearray(PAYLOAD)
    corrupt[4242] ^= 0x01
    server = serve(always(200, bytes(corrupt)))
    dest = tmp_path / "a.tar.bz2"
    with pytest.raises(ChecksumMismatch) as caught:
        fetch(server.url, dest, PAYLOAD_MD5, **FAST)
    message = str(caught.value)
    assert "a.tar.bz2" in message and PAYLOAD_MD5 in message
    assert hashlib.md5(bytes(corrupt)).hexdigest() in message
    assert not dest.exists() and not part_of(dest).exists()
    assert len(server.requests) == 1


def test_http_404_is_not_retried(tmp_path: Path, serve: Callable) -> None:
    server = serve(always(404))
    dest = tmp_path / "a.tar.bz2"
    with pytest.raises(DownloadError, match="404"):
        fetch(server.url, dest, PAYLOAD_MD5, retries=5, backoff=0.01, timeout=5.0)
    assert len(server.requests) == 1
    assert not dest.exists()


def test_http_5xx_and_429_are_retried(tmp_path: Path, serve: Callable) -> None:
    server = serve(statuses_then([503, 429], honour_range()))
    dest = tmp_path / "a.tar.bz2"
    assert fetch(server.url, dest, PAYLOAD_MD5, **FAST) == PAYLOAD_MD5
    assert len(server.requests) == 3
    assert dest.read_bytes() == PAYLOAD


def test_http_gives_up_after_retries_keeping_part(tmp_path: Path, serve: Callable) -> None:
    def behaviour(handler: _Handler, index: int) -> None:  # 1000 bytes per connection
        start = _requested_start(handler) or 0
        headers = {"Content-Length": str(len(PAYLOAD) - start)}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"
        _send(handler, 206 if start else 200, PAYLOAD[start:start + 1000], headers)
        handler.wfile.flush()
        handler.connection.shutdown(socket.SHUT_RDWR)

    server = serve(behaviour)
    dest = tmp_path / "a.tar.bz2"
    with pytest.raises(DownloadError, match="giving up after 3 attempts"):
        fetch(server.url, dest, PAYLOAD_MD5, retries=2, backoff=0.01, timeout=5.0)
    assert len(server.requests) == 3
    assert not dest.exists()
    kept = part_of(dest).read_bytes()
    assert kept == PAYLOAD[:3000]


def test_existing_verified_output_is_not_downloaded_again(tmp_path: Path, serve: Callable) -> None:
    server = serve(honour_range())
    dest = tmp_path / "a.tar.bz2"
    dest.write_bytes(PAYLOAD)
    assert fetch(server.url, dest, PAYLOAD_MD5, **FAST) == PAYLOAD_MD5
    assert server.requests == []


# --------------------------------------------------------------------------- CLI


def _mirror(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "mirror" / "a.tar.bz2"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    sums = tmp_path / "mirror" / "MD5SUMS"
    sums.write_text(f"{PAYLOAD_MD5}  a.tar.bz2\n{'0' * 32}  other.tsv.bz2\n")
    return source, sums


def test_cli_with_md5sums(tmp_path: Path) -> None:
    source, sums = _mirror(tmp_path)
    dest = tmp_path / "resources" / "a.tar.bz2"
    argv = ["--url", source.as_uri(), "--out", str(dest), "--md5sums", str(sums),
            "--retries", "1", "--backoff", "0.01", "--timeout", "5"]
    assert main(argv) == 0
    assert dest.read_bytes() == PAYLOAD


def test_cli_name_missing_from_md5sums(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source, sums = _mirror(tmp_path)
    dest = tmp_path / "resources" / "b.tar.bz2"
    assert main(["--url", source.as_uri(), "--out", str(dest), "--md5sums", str(sums)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "b.tar.bz2" in lines[0] and str(sums) in lines[0]
    assert not dest.exists()


def test_cli_checksum_failure_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source, _ = _mirror(tmp_path)
    dest = tmp_path / "resources" / "a.tar.bz2"
    argv = ["--url", source.as_uri(), "--out", str(dest), "--md5", "f" * 32, "--backoff", "0.01"]
    assert main(argv) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert "f" * 32 in errors[0] and PAYLOAD_MD5 in errors[0] and "a.tar.bz2" in errors[0]
    assert not dest.exists() and not part_of(dest).exists()


def test_cli_rejects_both_checksum_options(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--url", "file:x", "--out", str(tmp_path / "x"), "--md5", "0" * 32,
              "--md5sums", "MD5SUMS"])
    assert caught.value.code == 2
