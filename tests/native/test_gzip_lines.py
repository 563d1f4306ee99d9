"""The data file line reader, with zlib and (when installed) ISA-L: same lines, same errors."""

from __future__ import annotations

import gzip
import random
import zlib
from pathlib import Path
from types import ModuleType

import pytest

from exporter import gzip_lines
from exporter.gzip_lines import iter_lines
from schemas.errors import CorruptDataError


def _inflaters() -> list[ModuleType]:
    try:
        from isal import isal_zlib
    except ImportError:
        return [zlib]
    return [zlib, isal_zlib]


INFLATERS = pytest.mark.parametrize("inflate", _inflaters(), ids=lambda m: m.__name__)


@pytest.fixture
def lines() -> list[bytes]:
    """Enough varied text that one file spans many read blocks and output bounds."""
    rng = random.Random(7)
    return [b'{"n":%d,"s":"%s"}' % (i, rng.randbytes(rng.randint(0, 300)).hex().encode())
            for i in range(6000)]


@INFLATERS
def test_multi_member_file_gives_every_line(tmp_path: Path, lines: list[bytes],
                                            inflate: ModuleType) -> None:
    body = gzip.compress(b"\n".join(lines[:2500]) + b"\n") + gzip.compress(b"\n".join(lines[2500:]))
    path = tmp_path / "d.json.gz"
    path.write_bytes(body)
    assert len(body) > 4 * gzip_lines._READ  # several blocks, several calls per block
    assert list(iter_lines(path, "s3://b/d.json.gz", inflate=inflate)) == lines


@INFLATERS
def test_empty_partition_file_has_no_lines(tmp_path: Path, inflate: ModuleType) -> None:
    path = tmp_path / "empty.json.gz"
    path.write_bytes(gzip.compress(b""))
    assert list(iter_lines(path, "s3://b/empty.json.gz", inflate=inflate)) == []


@INFLATERS
@pytest.mark.parametrize("keep", [0.5, -1, -8])
def test_truncated_file_is_named(tmp_path: Path, lines: list[bytes], inflate: ModuleType,
                                 keep: float) -> None:
    body = gzip.compress(b"\n".join(lines))
    path = tmp_path / "t.json.gz"
    path.write_bytes(body[: int(len(body) * keep)] if keep > 0 else body[: int(keep)])
    with pytest.raises(CorruptDataError, match=r"s3://b/t\.json\.gz is truncated"):
        list(iter_lines(path, "s3://b/t.json.gz", inflate=inflate))


@INFLATERS
def test_damaged_file_is_named(tmp_path: Path, lines: list[bytes], inflate: ModuleType) -> None:
    body = bytearray(gzip.compress(b"\n".join(lines)))
    body[len(body) // 3: len(body) // 3 + 64] = bytes(64)  # zeroed deflate data
    path = tmp_path / "x.json.gz"
    path.write_bytes(bytes(body))
    with pytest.raises(CorruptDataError, match=r"s3://b/x\.json\.gz is (not valid gzip|truncated)"):
        list(iter_lines(path, "s3://b/x.json.gz", inflate=inflate))


def test_not_gzip_at_all_is_named(tmp_path: Path) -> None:
    path = tmp_path / "plain.json.gz"
    path.write_bytes(b'{"Item": {}}\n')
    with pytest.raises(CorruptDataError, match=r"plain\.json\.gz is not valid gzip"):
        list(iter_lines(path, "plain.json.gz"))
