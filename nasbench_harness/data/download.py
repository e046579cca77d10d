"""Fetching the official archives: checksummed, resumable (HTTP Range onto `.part`), atomically renamed.

`RESOURCES` is a plain module-level table so tests (or a mirror) can point it elsewhere.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from tqdm import tqdm

from nasbench_harness import __version__
from nasbench_harness.data.registry import get_spec
from nasbench_harness.errors import DataError
from nasbench_harness.fileio import CHUNK, atomic_write, file_digest

OFFLINE_ENV = "NASBENCH_OFFLINE"
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Resource:
    """One file to fetch: saved as `data_dir/folder/filename`; archives are unpacked into the data dir."""

    url: str
    md5: str
    filename: str
    folder: str = ""
    extract: bool = False
    option: str | None = None
    """Fetched only when this dataset option is on (SVHN's `extra`)."""


_SVHN = "http://ufldl.stanford.edu/housenumbers"
RESOURCES: dict[str, tuple[Resource, ...]] = {
    "cifar10": (
        Resource(
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            "c58f30108f718f92721af3b95e74349a",
            "cifar-10-python.tar.gz",
            extract=True,
        ),
    ),
    "cifar100": (
        Resource(
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
            "eb9058c3a382ffc7106e4002c42a8d85",
            "cifar-100-python.tar.gz",
            extract=True,
        ),
    ),
    "svhn": (
        Resource(f"{_SVHN}/train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373", "train_32x32.mat", "svhn"),
        Resource(f"{_SVHN}/test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3", "test_32x32.mat", "svhn"),
        Resource(
            f"{_SVHN}/extra_32x32.mat",
            "a93ce644f1a588dc4d68dda5feec44a7",
            "extra_32x32.mat",
            "svhn",
            option="extra",
        ),
    ),
}


def offline() -> bool:
    """True when $NASBENCH_OFFLINE forbids network access (e.g. on compute nodes without internet)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def can_download(name: str) -> bool:
    return name in RESOURCES


def download_dataset(name: str, root: Path, *, force: bool = False, progress: bool = True, **options: object) -> None:
    """Fetch and unpack whatever of dataset `name` is missing under data directory `root` (all if `force`)."""
    spec = get_spec(name)
    opts = spec.resolve_options(options)
    if name not in RESOURCES:
        raise DataError(f"cannot download {name}: {spec.how_to_obtain()}")
    if not force and not spec.missing_files(root, opts):
        return
    for res in RESOURCES[name]:
        if res.option is not None and not opts[res.option]:
            continue
        dest = root / res.folder / res.filename
        if dest.is_file() and not force and not res.extract:
            continue
        download_file(res.url, dest, res.md5, progress=progress)
        if res.extract:
            extract_tar(dest, root)
            dest.unlink()


def download_file(url: str, dest: Path, md5: str, *, progress: bool = True) -> None:
    """Download `url` to `dest`, resuming `dest.part` if a previous attempt left one, and verify its md5."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    response = _open(url, offset)
    if response is not None and offset and response.status == 200:
        offset = 0  # the server ignored the Range and sends the whole file: overwrite the .part
    elif response is not None and offset and not _resumes_at(response, offset):
        response.close()
        part.unlink()
        raise DataError(f"{url} answered the resume request with the wrong range; run the command again")
    if response is not None:
        with response:
            _write(response, part, offset, url, progress)
    actual = file_digest(part, "md5")
    if actual != md5:
        part.unlink()
        raise DataError(
            f"checksum mismatch for {url}: expected md5 {md5}, got {actual}. "
            "The download was deleted; run the command again (or check for a proxy rewriting it)."
        )
    os.replace(part, dest)


def _open(url: str, offset: int) -> HTTPResponse | None:
    """The HTTP response for the bytes from `offset` on; None when the `.part` already holds all of them."""
    headers = {"User-Agent": f"nasbench-harness/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # range not satisfiable: nothing left to fetch; the checksum decides
            return None
        raise DataError(f"download of {url} failed: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DataError(f"cannot reach {url} ({reason}); check the network or place the files by hand") from None


def _resumes_at(response: HTTPResponse, offset: int) -> bool:
    return response.status == 206 and response.headers.get("Content-Range", "").startswith(f"bytes {offset}-")


def _write(response: HTTPResponse, part: Path, offset: int, url: str, progress: bool) -> None:
    length = response.headers.get("Content-Length")
    total = offset + int(length) if length and length.isdigit() else None
    with (
        part.open("ab" if offset else "wb") as fh,
        tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=part.name.removesuffix(".part"),
            disable=None if progress else True,
        ) as bar,
    ):
        error: Exception | None = None
        try:
            while chunk := response.read(CHUNK):
                fh.write(chunk)
                bar.update(len(chunk))
        except (OSError, HTTPException) as err:  # timeouts, resets, IncompleteRead of chunked bodies
            error = err
        if error is not None or (total is not None and fh.tell() < total):
            # http.client ends a body cut short without an error: only the length tells
            raise DataError(
                f"download of {url} was interrupted after {fh.tell()} bytes ({error or 'connection closed'}); "
                "run the command again to resume"
            )


def _copy(src: BinaryIO, target: Path) -> None:
    with target.open("wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)


def extract_tar(archive: Path, root: Path) -> None:
    """Unpack regular files into `root`, each written atomically, so a crash leaves no half file.

    Only plain relative paths are accepted (no links, no `..`), since the archive came over the network.
    """
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if member.isdir():
                    continue
                rel = PurePosixPath(member.name)
                if not member.isfile() or rel.is_absolute() or ".." in rel.parts:
                    raise DataError(f"{archive}: refusing to extract {member.name!r} (not a plain relative file)")
                src = tar.extractfile(member)
                assert src is not None  # regular files always have contents
                with src:
                    atomic_write(root.joinpath(*rel.parts), lambda tmp, src=src: _copy(src, tmp))
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise DataError(f"{archive} is not a readable .tar.gz archive ({err}); run the download again") from None
