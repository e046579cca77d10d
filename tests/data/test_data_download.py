"""Downloads against a loopback HTTP server: extraction, resume of a `.part`, checksum and network errors."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from nasbench_harness.data import download as download_module
from nasbench_harness.data import download_dataset, load_dataset
from nasbench_harness.data.download import Resource, download_file, extract_tar
from nasbench_harness.errors import DataError


class _Server(ThreadingHTTPServer):
    files: dict[str, bytes]
    honour_range: bool
    range_shift: int
    cut_after: int | None
    requests: list[str | None]
    bytes_sent: int


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        wanted = self.headers.get("Range")
        self.server.requests.append(wanted)
        start = int(wanted.removeprefix("bytes=").split("-")[0]) if wanted and self.server.honour_range else 0
        if start >= len(body) > 0:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(body)}")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            shown = start + self.server.range_shift
            self.send_header("Content-Range", f"bytes {shown}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        sent = body[start:][: self.server.cut_after]  # cut_after: drop the connection early
        self.wfile.write(sent)
        self.server.bytes_sent += len(sent)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.files, srv.honour_range, srv.range_shift, srv.cut_after = {}, True, 0, None
    srv.requests, srv.bytes_sent = [], 0
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv: _Server, path: str) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def _cifar10_archive(tmp_path: Path, write_batch) -> bytes:
    """A cifar-10-python.tar.gz in the official layout, with 10 images per batch."""
    staging = tmp_path / "staging"
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (10, 3072), dtype=np.uint8)
        write_batch(staging / "cifar-10-batches-py" / name, data, rng.integers(0, 10, 10))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(staging / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return buffer.getvalue()


@pytest.fixture
def cifar10_served(server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_batch) -> bytes:
    archive = _cifar10_archive(tmp_path, write_batch)
    server.files["/cifar-10-python.tar.gz"] = archive
    resource = Resource(
        _url(server, "/cifar-10-python.tar.gz"),
        hashlib.md5(archive).hexdigest(),
        "cifar-10-python.tar.gz",
        extract=True,
    )
    monkeypatch.setitem(download_module.RESOURCES, "cifar10", (resource,))
    monkeypatch.delenv("NASBENCH_OFFLINE", raising=False)
    return archive


def test_first_use_downloads_and_extracts(cifar10_served: bytes, server: _Server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    ds = load_dataset("cifar10", root)
    assert ds.num_train == 50 and ds.num_test == 10
    assert server.requests == [None]
    assert sorted(p.name for p in root.rglob("*")) == sorted(
        ["cifar-10-batches-py", "test_batch"] + [f"data_batch_{i}" for i in range(1, 6)]
    )  # archive removed after unpacking, no .part left
    load_dataset("cifar10", root)
    assert server.requests == [None]  # present now: no second download


def test_resumes_a_partial_download(cifar10_served: bytes, server: _Server, tmp_path: Path) -> None:
    (tmp_path / "cifar-10-python.tar.gz.part").write_bytes(cifar10_served[:1000])
    download_dataset("cifar10", tmp_path, progress=False)
    assert server.requests == ["bytes=1000-"] and server.bytes_sent == len(cifar10_served) - 1000
    assert load_dataset("cifar10", tmp_path, download=False).num_train == 50


def test_interrupted_download_resumes(cifar10_served: bytes, server: _Server, tmp_path: Path) -> None:
    server.cut_after = 5000
    with pytest.raises(DataError, match="interrupted after 5000 bytes"):
        download_dataset("cifar10", tmp_path, progress=False)
    server.cut_after = None
    download_dataset("cifar10", tmp_path, progress=False)
    assert server.requests == [None, "bytes=5000-"] and server.bytes_sent == len(cifar10_served)
    assert load_dataset("cifar10", tmp_path, download=False).num_train == 50


def test_restarts_when_the_server_ignores_range(cifar10_served: bytes, server: _Server, tmp_path: Path) -> None:
    server.honour_range = False
    (tmp_path / "cifar-10-python.tar.gz.part").write_bytes(b"stale bytes from another file")
    download_dataset("cifar10", tmp_path, progress=False)
    assert server.bytes_sent == len(cifar10_served)
    assert load_dataset("cifar10", tmp_path, download=False).num_test == 10


def test_wrong_range_answer_discards_the_part(cifar10_served: bytes, server: _Server, tmp_path: Path) -> None:
    server.range_shift = 7
    part = tmp_path / "cifar-10-python.tar.gz.part"
    part.write_bytes(cifar10_served[:1000])
    with pytest.raises(DataError, match="wrong range"):
        download_dataset("cifar10", tmp_path, progress=False)
    assert not part.exists()


def test_complete_part_is_verified_not_refetched(cifar10_served: bytes, server: _Server, tmp_path: Path) -> None:
    (tmp_path / "cifar-10-python.tar.gz.part").write_bytes(cifar10_served)
    download_dataset("cifar10", tmp_path, progress=False)
    assert server.bytes_sent == 0 and (tmp_path / "cifar-10-batches-py" / "test_batch").is_file()


def test_checksum_mismatch(server: _Server, tmp_path: Path) -> None:
    server.files["/f.mat"] = b"some bytes"
    dest = tmp_path / "svhn" / "f.mat"
    with pytest.raises(DataError, match="checksum mismatch") as err:
        download_file(_url(server, "/f.mat"), dest, "0" * 32, progress=False)
    assert hashlib.md5(b"some bytes").hexdigest() in str(err.value) and "/f.mat" in str(err.value)
    assert not dest.exists() and not dest.with_name("f.mat.part").exists()


def test_svhn_files_and_extra_option(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write_mat
) -> None:
    resources = []
    for split, n in (("train", 6), ("test", 4), ("extra", 3)):
        path = tmp_path / "src" / f"{split}_32x32.mat"
        write_mat(path, np.zeros((32, 32, 3, n), np.uint8), np.full(n, 10))
        server.files[f"/{path.name}"] = body = path.read_bytes()
        option = "extra" if split == "extra" else None
        resources.append(
            Resource(_url(server, f"/{path.name}"), hashlib.md5(body).hexdigest(), path.name, "svhn", option=option)
        )
    monkeypatch.setitem(download_module.RESOURCES, "svhn", tuple(resources))
    monkeypatch.delenv("NASBENCH_OFFLINE", raising=False)
    root = tmp_path / "data"
    assert load_dataset("svhn", root).num_train == 6 and len(server.requests) == 2
    assert load_dataset("svhn", root, extra=True).num_train == 9 and len(server.requests) == 3


def test_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    with pytest.raises(DataError, match="cannot reach"):
        download_file(f"http://127.0.0.1:{port}/x.tar.gz", tmp_path / "x.tar.gz", "0" * 32, progress=False)


def test_missing_file_on_server(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="HTTP 404"):
        download_file(_url(server, "/nothing"), tmp_path / "x", "0" * 32, progress=False)


def test_archive_may_not_escape_the_data_dir(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../outside")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(DataError, match="refusing to extract '../outside'"):
        extract_tar(archive, tmp_path / "data")
    assert not (tmp_path / "outside").exists()
    archive.write_bytes(b"not a tar")
    with pytest.raises(DataError, match="not a readable .tar.gz"):
        extract_tar(archive, tmp_path / "data")
