"""Safe file I/O (capacity._files): malformed .npz members, zip bombs, output paths, atomic writes, locks."""

import io
import json
import os
import stat
import subprocess
import sys
import textwrap
import zipfile
import zlib

import numpy as np
import pytest
from numpy.lib import format as npformat

from capacity import _files, data
from capacity.errors import (CapacityError, DataFileError, FileLimitError, NonFiniteError, OutputPathError, ShapeError,
                             StoreLockedError)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _npy_bytes(header: dict, payload: bytes) -> bytes:
    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, header)
    return buf.getvalue() + payload


def _good_y(n=3):
    return np.linspace(-1, 1, n)


# ---------------------------------------------------------------- malformed DATA.npz, one per kind


@pytest.mark.parametrize("x, pattern", [
    (np.arange(6.0).reshape(3, 2) + 1j, r"member 'x' is complex"),
    (np.array([["a", "b"], ["c", "d"], ["e", "f"]]), r"member 'x' holds strings"),
    (np.zeros(3, dtype=[("a", "f8"), ("b", "f8")]), r"member 'x' has a structured dtype"),
    (np.arange(3).astype("datetime64[s]"), r"member 'x' has unsupported dtype"),
])
def test_bad_dtypes_are_refused_naming_the_member(tmp_path, x, pattern):
    p = tmp_path / "d.npz"
    np.savez(p, x=x, y=_good_y())
    with pytest.raises(DataFileError, match=pattern):
        data.load_npz(p)


def test_object_arrays_are_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    x = np.empty(3, dtype=object)
    x[:] = [Evil(), Evil(), Evil()]
    p = tmp_path / "d.npz"
    np.savez(p, x=x, y=_good_y())  # numpy writes the pickle
    with pytest.raises(DataFileError, match=r"member 'x' holds Python objects.*never done"):
        data.load_npz(p)
    with pytest.raises(DataFileError, match=r"member 'y' holds Python objects"):
        np.savez(p, x=np.arange(3.0), y=x)
        data.load_npz(p)
    assert not marker.exists()


@pytest.mark.parametrize("x, y, exc, pattern", [
    (np.zeros((0, 2)), np.zeros(0), ShapeError, "empty"),
    (np.zeros((3, 0)), _good_y(), ShapeError, "0 columns"),
    (np.zeros((2, 2, 2)), _good_y(2), ShapeError, r"x must have shape \(N, dx\)"),
    (np.arange(3.0), np.zeros((3, 1, 1)), ShapeError, r"y must have shape"),
    (np.arange(3.0), np.zeros((3, 0)), ShapeError, r"dy >= 1"),
    (np.arange(3.0), np.array([1 + 0j, 0, 0]), DataFileError, r"member 'y' is complex"),
])
def test_bad_shapes_are_refused(tmp_path, x, y, exc, pattern):
    p = tmp_path / "d.npz"
    np.savez(p, x=x, y=y)
    with pytest.raises(exc, match=pattern) as e:
        data.load_npz(p)
    assert str(e.value).startswith(str(p)) and "\n" not in str(e.value)


def test_non_finite_rows_are_named_with_the_file(tmp_path):
    x = np.arange(12.0).reshape(6, 2)
    x[1, 0] = np.nan
    x[4, 1] = -np.inf
    p = tmp_path / "d.npz"
    np.savez(p, x=x, y=np.zeros(6))
    with pytest.raises(NonFiniteError, match=r"d\.npz: x has NaN or infinite values in rows 1, 4"):
        data.load_npz(p)
    np.savez(p, x=np.arange(3.0), y=np.array([0.0, np.nan, 0.0]))
    with pytest.raises(NonFiniteError, match=r"y has NaN .* rows 1"):
        data.load_npz(p)


def test_fortran_order_big_endian_and_integer_data_are_read_exactly(tmp_path):
    x = np.asfortranarray(np.arange(12.0).reshape(4, 3) ** 2).astype(">f8")
    p = tmp_path / "d.npz"
    np.savez(p, x=x, y=np.array([0, 1, 2, 1], dtype=">i4"), extra=np.zeros(2) + 1j)  # unknown members are skipped
    ds = data.load_npz(p)
    np.testing.assert_array_equal(ds.x, np.arange(12.0).reshape(4, 3) ** 2)
    assert ds.is_classification and ds.y.tolist() == [0, 1, 2, 1]
    np.savez_compressed(p, x=x.astype("<f4"), y=_good_y(4))  # deflated members
    np.testing.assert_array_equal(data.load_npz(p).x, np.arange(12.0).reshape(4, 3) ** 2)


def test_extended_precision_is_refused(tmp_path):
    if np.dtype(np.longdouble).itemsize <= 8:
        pytest.skip("long double is float64 on this platform")
    p = tmp_path / "d.npz"
    np.savez(p, x=np.arange(3, dtype=np.longdouble), y=_good_y())
    with pytest.raises(DataFileError, match="extended precision"):
        data.load_npz(p)


def test_header_that_lies_about_its_shape_is_refused(tmp_path):
    p = tmp_path / "d.npz"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("x.npy", _npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (10**6, 2)}, bytes(48)))
        zf.writestr("y.npy", _npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (3,)}, bytes(24)))
    with pytest.raises(FileLimitError, match=r"member 'x' declares shape \(1000000, 2\).*holds 48 B"):
        data.load_npz(p)
    with zipfile.ZipFile(p, "w") as zf:  # more data than the shape
        zf.writestr("x.npy", _npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (3,)}, bytes(4000)))
    with pytest.raises(FileLimitError, match="declares shape"):
        _files.read_npz(p)


def test_archive_structure_is_checked(tmp_path):
    p = tmp_path / "d.npz"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("x.npy", _npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (3,)}, bytes(24)))
        zf.writestr("notes.txt", "hello")
    with pytest.raises(DataFileError, match=r"member 'notes.txt' is not a .npy array"):
        data.load_npz(p)
    with zipfile.ZipFile(p, "w") as zf:
        for i in range(20):
            zf.writestr(f"a{i}.npy", _npy_bytes({"descr": "<f8", "fortran_order": False, "shape": ()}, bytes(8)))
    with pytest.raises(FileLimitError, match="lists 20 members.*at most 10"):
        _files.read_npz(p, max_members=10)
    assert len(_files.read_npz(p, max_members=20)) == 20
    with pytest.warns(UserWarning), zipfile.ZipFile(p, "w") as zf:
        zf.writestr("x.npy", _npy_bytes({"descr": "<f8", "fortran_order": False, "shape": ()}, bytes(8)))
        zf.writestr("x.npy", _npy_bytes({"descr": "<f8", "fortran_order": False, "shape": ()}, bytes(8)))
    with pytest.raises(DataFileError, match="appears twice"):
        _files.read_npz(p)
    with pytest.raises(DataFileError, match="unexpected member 'x'"):
        _files.read_npz(tmp_path / "d.npz", allowed={"kernel_{i}": "real"}, unknown="error")


def test_not_a_file(tmp_path):
    with pytest.raises(DataFileError, match="is a directory"):
        data.load_npz(tmp_path)
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)  # opening it would block: it must be refused from its stat alone
    with pytest.raises(DataFileError, match="not a regular file"):
        data.load_npz(fifo)
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(DataFileError, match="not a readable"):
        data.load_npz(tmp_path / "empty.npz")


def test_memory_cap_from_keyword_and_environment(tmp_path, monkeypatch):
    p = tmp_path / "d.npz"
    data.save_npz(p, data.generate("gaussian", 2000, 8, seed=0))  # x is 128000 bytes
    with pytest.raises(FileLimitError, match=r"member 'x' declares 125 KiB uncompressed, more than the memory cap of "
                                             r"97.7 KiB; set CAPACITY_MAX_BYTES"):
        data.load_npz(p, max_bytes=100_000)
    with pytest.raises(FileLimitError, match="its arrays declare"):  # x fits alone, x + y does not
        data.load_npz(p, max_bytes=130_000)
    monkeypatch.setenv("CAPACITY_MAX_BYTES", "100K")
    with pytest.raises(FileLimitError, match="memory cap of 100 KiB"):
        data.load_npz(p)
    monkeypatch.setenv("CAPACITY_MAX_BYTES", "lots")
    with pytest.raises(CapacityError, match="CAPACITY_MAX_BYTES='lots' is not a size"):
        data.load_npz(p)
    monkeypatch.setenv("CAPACITY_MAX_BYTES", "1G")
    assert data.load_npz(p).n == 2000
    assert _files.parse_bytes("1.5G") == 3 * 2**29 and _files.parse_bytes("unlimited") >= 2**62
    monkeypatch.delenv("CAPACITY_MAX_BYTES")
    assert _files.resolve_max_bytes() == _files.DEFAULT_MAX_BYTES == 8 * 2**30


# ---------------------------------------------------------------- zip bomb (made here, small on disk)


def _deflate_zeros(prefix: bytes, n_zero: int, chunk: int = 1 << 24) -> bytes:
    """A raw deflate stream of ``prefix`` + n_zero zero bytes, made without compressing them all:
    after a full flush the compressor restarts, so each further zero chunk compresses to the same
    bytes, which are repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(prefix + bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    rep = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH) == rep
    k, r = divmod(n_zero - 3 * chunk, chunk)
    return first + rep * (k + 2) + c.compress(bytes(r)) + c.flush(zlib.Z_FINISH)


def make_bomb(path, rows: int, *, declared_size: int | None = None, crc_of: int | None = None) -> int:
    """DATA.npz whose x.npy (shape (rows, 1) float64, zeros) is a deflate bomb.  ``declared_size``
    overrides the member's uncompressed size in the zip directory (a lying directory); its CRC is
    that of the first ``crc_of`` decompressed bytes (0 otherwise).  Returns the size on disk."""
    header = io.BytesIO()
    npformat.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (rows, 1)})
    header = header.getvalue()
    stream = _deflate_zeros(header, rows * 8)
    crc = zlib.crc32(header + bytes(crc_of - len(header))) if crc_of else 0
    size = declared_size if declared_size is not None else len(header) + rows * 8
    with zipfile.ZipFile(path, "w") as zf:
        _write_raw_member(zf, "x.npy", stream, size, crc)
        zf.writestr("y.npy", _npy_bytes({"descr": "<f8", "fortran_order": False, "shape": (1,)}, bytes(8)))
    return os.path.getsize(path)


def _write_raw_member(zf: zipfile.ZipFile, name: str, stream: bytes, file_size: int, crc: int) -> None:
    """Append a deflated member whose directory entry says ``file_size`` and ``crc`` whatever ``stream``
    decompresses to (how a lying archive is made)."""
    zinfo = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    zinfo.compress_type = zipfile.ZIP_DEFLATED
    zinfo.file_size = file_size
    zinfo.compress_size = len(stream)
    zinfo.CRC = crc
    zinfo.header_offset = zf.fp.tell()
    zf.fp.write(zinfo.FileHeader())
    zf.fp.write(stream)
    zf.filelist.append(zinfo)
    zf.NameToInfo[zinfo.filename] = zinfo
    zf.start_dir = zf.fp.tell()
    zf._didModify = True


LIMITED = textwrap.dedent("""
    import json, resource, sys, time
    lim = 1536 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    import numpy as np
    from capacity import _files, data
    from capacity.errors import CapacityError
    path, mode = sys.argv[1], sys.argv[2]
    out = {}
    t0 = time.perf_counter()
    try:
        if mode == "load":
            data.load_npz(path)
            out["result"] = "loaded"
        else:
            out["result"] = "read %s" % (_files.read_npz(path)["x"].shape,)
    except CapacityError as e:
        out["result"] = "refused: " + str(e)
    out["seconds"] = time.perf_counter() - t0
    # the peak RSS of this process's own address space (VmHWM starts afresh at exec, whereas ru_maxrss
    # keeps the parent's high-water mark from the fork)
    try:
        with open("/proc/self/status") as fh:
            out["maxrss_kib"] = int(next(l for l in fh if l.startswith("VmHWM:")).split()[1])
    except (OSError, StopIteration):
        out["maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:  # the naive loader, as a control: the bomb is real
        with np.load(path) as f:
            f["x"]
        out["naive"] = "loaded"
    except MemoryError:
        out["naive"] = "MemoryError"
    except Exception as e:
        out["naive"] = type(e).__name__
    print(json.dumps(out))
""")


def _run_limited(path, mode):
    env = dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu")
    env.pop("CAPACITY_MAX_BYTES", None)
    r = subprocess.run([sys.executable, "-c", LIMITED, str(path), mode], capture_output=True, text=True, env=env,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_zip_bomb_is_refused_quickly_with_bounded_memory(tmp_path):
    p = tmp_path / "bomb.npz"
    rows = 2**31  # 16 GiB of float64 zeros
    size = make_bomb(p, rows)
    assert size < 20 * 2**20  # ~16 MiB on disk
    out = _run_limited(p, "load")
    assert out["result"].startswith(f"refused: {p}: member 'x' declares 16 GiB uncompressed, more than the memory cap")
    assert out["seconds"] < 1.0
    assert out["maxrss_kib"] < 1024 * 1024  # < 1 GiB peak RSS (address space limited to 1.5 GiB)
    assert out["naive"] == "MemoryError"  # numpy's loader would allocate the 16 GiB


def test_lying_zip_directory_cannot_exceed_its_declared_size(tmp_path):
    p = tmp_path / "bomb.npz"
    rows = 2**30  # the stream decompresses to 8 GiB ...
    small = 128 + 8 * 1000
    make_bomb(p, rows, declared_size=small, crc_of=small)  # ... but the directory says 8 KB
    out = _run_limited(p, "read")
    # the header's shape (2^30 rows) disagrees with the member's declared size: refused before reading
    assert out["result"].startswith("refused:") and "declares shape (1073741824, 1)" in out["result"]
    assert out["maxrss_kib"] < 1024 * 1024 and out["seconds"] < 1.0


def test_lying_directory_with_consistent_header_reads_only_the_declared_bytes(tmp_path):
    # header says 1000 rows, directory says 8128 bytes (consistent), the stream holds 8 GiB: zipfile stops at
    # the declared size and the rest is never decompressed
    header = io.BytesIO()
    npformat.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (1000, 1)})
    header = header.getvalue()
    stream = _deflate_zeros(header, 2**33)
    p = tmp_path / "bomb.npz"
    with zipfile.ZipFile(p, "w") as zf:
        _write_raw_member(zf, "x.npy", stream, len(header) + 8000, zlib.crc32(header + bytes(8000)))
    out = _files.read_npz(p)
    assert out["x"].shape == (1000, 1) and not out["x"].any()


# ---------------------------------------------------------------- NET.npz-style members


def _net_npz(path, **members):
    np.savez(path, kernel_0=np.eye(2), bias_0=np.zeros(2), **members)


NET_ALLOWED = {"kernel_{i}": "real", "bias_{i}": "real", "exact_kernel_{i}": "intstr", "exact_bias_{i}": "intstr",
               "activation": "text", "kind": "text", "meta": "text"}
META_FIELDS = {"construction": str, "widths": list, "n": int, "record": dict, "certification": dict}


def test_text_members_and_meta(tmp_path):
    p = tmp_path / "n.npz"
    meta = {"construction": "yun3", "widths": [4, 4], "n": 3, "record": {"capacity": 16}}
    _net_npz(p, activation=np.array("relu"), meta=np.array(json.dumps(meta)))
    a = _files.read_npz(p, allowed=NET_ALLOWED, unknown="error", what="NET.npz")
    assert _files.text_member(a, "activation", path=str(p), choices=("relu", "hardtanh")) == "relu"
    assert _files.text_member(a, "kind", path=str(p), default="mlp") == "mlp"
    assert _files.json_object(_files.text_member(a, "meta", path=str(p)), path=str(p), fields=META_FIELDS) == meta
    _net_npz(p, activation=np.array("sigmoid"))
    a = _files.read_npz(p, allowed=NET_ALLOWED)
    with pytest.raises(DataFileError, match=r"member 'activation' is 'sigmoid'; expected one of relu, hardtanh"):
        _files.text_member(a, "activation", path=str(p), choices=("relu", "hardtanh"))
    _net_npz(p, activation=np.array(["relu", "relu"]))
    with pytest.raises(DataFileError, match=r"member 'activation' must be a single string"):
        _files.read_npz(p, allowed=NET_ALLOWED)
    _net_npz(p, meta=np.array(3.0))
    with pytest.raises(DataFileError, match=r"member 'meta' has dtype float64; expected a text string"):
        _files.read_npz(p, allowed=NET_ALLOWED)
    _net_npz(p, meta=np.array("x" * 5000))
    with pytest.raises(FileLimitError, match=r"member 'meta' is a string of 19.5 KiB; at most 1000 B"):
        _files.read_npz(p, allowed=NET_ALLOWED, max_text_bytes=1000)


@pytest.mark.parametrize("text, pattern", [
    ("[1, 2]", "must be a JSON object"),
    ("null", "must be a JSON object.*got null"),
    ("{'a': 1}", "not valid JSON"),
    ("[" * 100000 + "]" * 100000, "nested too deeply|not valid JSON"),
    ('{"n": 1' + "0" * 5000 + "}", "not valid JSON"),
    ('{"widths": "4,4"}', "field 'widths' must be a list; got a string"),
    ('{"n": true}', "field 'n' must be an integer; got true/false"),
    ('{"n": 2.5}', "field 'n' must be an integer; got a number"),
    ('{"record": []}', "field 'record' must be an object; got a list"),
    ('{"construction": 7}', "field 'construction' must be a string; got an integer"),
])
def test_meta_must_be_a_json_object_with_typed_fields(text, pattern):
    with pytest.raises(DataFileError, match=pattern) as e:
        _files.json_object(text, path="NET.npz", fields=META_FIELDS)
    assert len(str(e.value)) < 300


def test_meta_standard_json():
    meta = {"a": float("inf"), "b": [np.float64(1.5), np.int64(2)], "c": np.arange(2), "d": float("nan")}
    text = _files.json_dumps_standard(meta)
    assert "Infinity" not in text and "NaN" not in text
    assert _files.json_object(text, strict=True) == {"a": None, "b": [1.5, 2], "c": [0, 1], "d": None}
    assert _files.json_object('{"a": Infinity}')["a"] == float("inf")  # older files still read
    with pytest.raises(DataFileError, match="Infinity is not standard JSON"):
        _files.json_object('{"a": Infinity}', strict=True)
    assert _files.json_object('{"r": 1}', fields={"r": float}) == {"r": 1}


def test_exact_integer_strings(tmp_path):
    p = tmp_path / "n.npz"
    big = "1" + "0" * 5000  # beyond Python's default 4300-digit int(str) limit
    _net_npz(p, exact_kernel_0=np.array([["3", "-12"], ["+7", big]]), exact_bias_0=np.array(["0", "-1"]))
    a = _files.read_npz(p, allowed=NET_ALLOWED, unknown="error")
    k = _files.int_strings(a["exact_kernel_0"], path=str(p), key="exact_kernel_0")
    assert k.dtype == object and k.shape == (2, 2)
    assert k[0, 0] == 3 and k[0, 1] == -12 and k[1, 0] == 7 and k[1, 1] == 10**5000
    for junk in ("1.5", "", " 3", "0x1f", "1e3", "\u0663", "12a", "--1"):
        _net_npz(p, exact_kernel_0=np.array(["1", junk]))
        a = _files.read_npz(p, allowed=NET_ALLOWED)
        with pytest.raises(DataFileError, match=r"exact_kernel_0\[1\] = .* is not a decimal integer"):
            _files.int_strings(a["exact_kernel_0"], path=str(p), key="exact_kernel_0")
    _net_npz(p, exact_kernel_0=np.array(["1" * 200_001]))  # absurdly long: refused from the header
    with pytest.raises(FileLimitError, match=r"member 'exact_kernel_0' holds strings of up to 200001 characters"):
        _files.read_npz(p, allowed=NET_ALLOWED)
    with pytest.raises(FileLimitError, match="limited to 10 digits"):
        _files.parse_decimal_int("1" * 11, max_digits=10)
    _net_npz(p, exact_kernel_0=np.array([1, 2]))
    with pytest.raises(DataFileError, match=r"member 'exact_kernel_0' has dtype int64; expected decimal integer strings"):
        _files.read_npz(p, allowed=NET_ALLOWED)
    _net_npz(p, kernel_1=np.array(["1"]))
    with pytest.raises(DataFileError, match=r"member 'kernel_1' holds strings"):
        _files.read_npz(p, allowed=NET_ALLOWED)


# ---------------------------------------------------------------- output paths


def test_output_equal_to_an_input_in_any_spelling_is_refused(tmp_path, monkeypatch):
    d = tmp_path / "d.npz"
    data.save_npz(d, data.generate("gaussian", 5, 2, seed=0))
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    os.link(d, tmp_path / "hard.npz")
    os.symlink(d, tmp_path / "soft.npz")
    for spelling in (str(d), "d.npz", "./d.npz", "sub/../d.npz", str(tmp_path / "sub" / ".." / "d.npz"),
                     "hard.npz", "soft.npz"):
        with pytest.raises(OutputPathError, match=r"is the same file as the input .*choose another --out"):
            _files.check_output_path(spelling, inputs=[None, "d.npz"], force=True)
    with pytest.raises(OutputPathError, match="--save-data hard.npz is the same file as the input"):
        _files.check_output_path("hard.npz", inputs=[str(d)], force=True, flag="--save-data")
    assert d.read_bytes()[:2] == b"PK"


def test_non_regular_outputs_are_never_replaced(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputPathError, match="is a directory"):
        _files.check_output_path(tmp_path / "dir", force=True)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OutputPathError, match="not a regular file.*even with --force"):
        _files.check_output_path(fifo, force=True)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_character_device_is_never_replaced(tmp_path):
    dev = tmp_path / "null-like"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # a /dev/null-like node made in the tmp dir
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot create a device node here ({e}); the FIFO test covers non-regular files")
    with pytest.raises(OutputPathError, match="not a regular file"):
        _files.check_output_path(dev, force=True)
    assert stat.S_ISCHR(os.lstat(dev).st_mode)


def test_symlink_needs_force_and_force_replaces_the_link_not_its_target(tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("keep me")
    link = tmp_path / "out.npz"
    os.symlink(target, link)
    with pytest.raises(OutputPathError, match=r"is a symbolic link \(to .*target.txt\).*--force"):
        _files.check_output_path(link)
    assert _files.check_output_path(link, force=True) == link
    _files.atomic_save_npz(link, {"a": np.arange(3)})
    assert not os.path.islink(link) and target.read_text() == "keep me"
    np.testing.assert_array_equal(_files.read_npz(link)["a"], np.arange(3))


def test_existing_file_needs_force_and_the_message_names_it(tmp_path):
    p = tmp_path / "NET.npz"
    p.write_bytes(b"old")
    with pytest.raises(OutputPathError, match=r"--out .*NET\.npz already exists; pass --force to overwrite it"):
        _files.check_output_path(p)
    assert _files.check_output_path(p, force=True) == p
    assert _files.check_output_path(tmp_path / "new.npz") == tmp_path / "new.npz"
    assert sorted(os.listdir(tmp_path)) == ["NET.npz"]  # the writability probe left nothing


def test_output_directory_must_exist_and_be_writable(tmp_path, monkeypatch):
    with pytest.raises(OutputPathError, match=r"the directory .*nowhere does not exist; create it first"):
        _files.check_output_path(tmp_path / "nowhere" / "NET.npz")
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputPathError, match=r"file is not a directory"):
        _files.check_output_path(tmp_path / "file" / "NET.npz")
    with pytest.raises(OutputPathError, match="give a file name"):
        _files.check_output_path("")

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_files.tempfile, "mkstemp", denied)  # what a read-only directory does
    with pytest.raises(OutputPathError, match=r"cannot write in .* \(Permission denied\); choose a writable directory"):
        _files.check_output_path(tmp_path / "NET.npz")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="running as root: permission bits do not stop root (the monkeypatched probe covers the path)")
def test_unwritable_directory_really_refused(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(OutputPathError, match="cannot write in"):
            _files.check_output_path(d / "NET.npz")
    finally:
        d.chmod(0o700)


def test_output_dir(tmp_path):
    assert _files.check_output_dir(tmp_path / "runs" / "a").is_dir()
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputPathError, match="exists and is not a directory"):
        _files.check_output_dir(tmp_path / "f")
    with pytest.raises(OutputPathError, match="no such directory"):
        _files.check_output_dir(tmp_path / "absent", create=False)


# ---------------------------------------------------------------- atomic writes


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_atomic_write_leaves_no_temporary_file_and_keeps_the_old_file(tmp_path, monkeypatch, exc):
    p = tmp_path / "NET.npz"
    _files.atomic_save_npz(p, {"a": np.arange(3.0)})
    before = p.read_bytes()
    real = np.savez

    def failing(f, **arrays):
        real(f, **arrays)
        f.write(b"half")
        raise exc("disk full")

    monkeypatch.setattr(np, "savez", failing)
    with pytest.raises(exc):
        _files.atomic_save_npz(p, {"a": np.arange(1e5)})
    with pytest.raises(exc):
        data.save_npz(tmp_path / "d.npz", data.generate("gaussian", 5, 2, seed=0))
    assert sorted(os.listdir(tmp_path)) == ["NET.npz"] and p.read_bytes() == before


def test_atomic_text_and_permissions(tmp_path):
    p = tmp_path / "out.csv"
    _files.atomic_write_text(p, "a,b\n1,2\n")
    assert p.read_text() == "a,b\n1,2\n"
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o666 & ~_files._umask()
    os.chmod(p, 0o640)
    _files.atomic_write_text(p, "new\n")  # replacing keeps the file's mode
    assert p.read_text() == "new\n" and stat.S_IMODE(os.stat(p).st_mode) == 0o640
    with pytest.raises(TypeError, match="dtype object"):
        _files.atomic_save_npz(tmp_path / "o.npz", {"a": np.array([None])})
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]


# ---------------------------------------------------------------- store lock


def test_store_lock_refuses_a_second_holder(tmp_path):
    with _files.StoreLock(tmp_path) as lock:
        assert lock.held
        with pytest.raises(StoreLockedError, match=rf"{tmp_path} is in use by another capacity process "
                                                   rf"\(pid {os.getpid()}\)"):
            _files.StoreLock(tmp_path).acquire()
        code = ("import sys; from capacity._files import StoreLock\n"
                "from capacity.errors import CapacityError\n"
                "try:\n    StoreLock(sys.argv[1]).acquire()\nexcept CapacityError as e:\n"
                "    print(e); sys.exit(2)\n")
        r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, PYTHONPATH=REPO, JAX_PLATFORMS="cpu"))
        assert r.returncode == 2 and f"(pid {os.getpid()})" in r.stdout, r.stderr
    with _files.StoreLock(tmp_path) as again:  # released on exit
        assert again.held
