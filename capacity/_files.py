"""Safe reading and writing of the toolkit's files: ``DATA.npz``, ``NET.npz``, text, sweep stores.

Reading (:func:`read_npz`)
--------------------------
A ``.npz`` is a zip archive of ``.npy`` members.  :func:`read_npz` opens the zip itself and,
for every member it is asked to read, checks *before allocating anything*:

* the archive: a regular file (a FIFO or device is refused, it could block or never end), at
  most ``max_members`` members (checked on the zip's end record, before the member list is
  parsed), each a ``.npy`` file stored plainly or deflated, no duplicate names;
* the member's declared uncompressed size (``ZipInfo.file_size``) against the memory cap, and
  the sum over the members read against the same cap (zip bombs);
* the ``.npy`` header (read from the member stream with :mod:`numpy.lib.format`): its dtype
  against the kind expected for that member (numbers, integers, a text scalar, or decimal
  integer strings; object arrays, structured, complex, datetime and extended-precision dtypes
  are refused with a message naming the member), and shape x itemsize against the member's
  uncompressed size (a header that lies about its shape is refused).

Only then is the array allocated, and it is filled by streaming the member in bounded chunks;
zipfile stops a member's stream at its declared size and checks its CRC, so a member whose
data decompress to more than the header says cannot exceed the checked size.  Nothing is
ever unpickled.

Memory cap
----------
One cap bounds what a single file may make the toolkit allocate, and (in
:mod:`capacity._resources`) what a build or verification may use: **8 GiB by default**,
overridden by the environment variable ``CAPACITY_MAX_BYTES`` (bytes, or with a binary suffix:
``512M``, ``16G``, ``1T``; ``unlimited`` switches it off) and, above both, by the ``max_bytes``
keyword of the functions that take one.

Writing
-------
:func:`check_output_path` is called *before any work*: it refuses an output equal to an input
(same resolved path, or the same file through a hard link or symbolic link), anything that is
not a regular file (directory, device, FIFO, socket; a symbolic link unless ``force``), an
existing file unless ``force``, and a directory that does not exist or cannot be written (it
creates and removes a probe file there, which also catches read-only file systems when running
as root).  :func:`atomic_save_npz` and :func:`atomic_write_text` write to a hidden temporary file
in the same directory (``.NAME.XXXX.partial``), fsync it and rename it over the target, so a
crash, an exception or Ctrl-C leaves either the old file or the new one and no temporary file.
:class:`StoreLock` is an ``flock`` on a lock file inside a sweep-store directory, so two
processes cannot write one store.

Every refusal is a :class:`capacity.errors.CapacityError` subclass with a one-line message that
says what to fix.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import re
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
from numpy.lib import format as npformat

from capacity.errors import DataFileError, FileLimitError, OutputPathError, StoreLockedError

ENV_MAX_BYTES = "CAPACITY_MAX_BYTES"
DEFAULT_MAX_BYTES = 8 * 2**30
DEFAULT_MAX_MEMBERS = 100_000
DEFAULT_MAX_TEXT_BYTES = 64 * 2**20  # one text member (meta JSON, activation, kind)
DEFAULT_MAX_DIGITS = 100_000  # one decimal integer string (exact weights)
_READ_CHUNK = 1 << 22
_UNLIMITED = 1 << 62

#: kinds of members :func:`read_npz` can be asked for
REAL, INT, TEXT, INTSTR = "real", "int", "text", "intstr"
KINDS = (REAL, INT, TEXT, INTSTR)
_KIND_WORDS = {REAL: "real numbers", INT: "integers", TEXT: "a text string", INTSTR: "decimal integer strings"}

# ------------------------------------------------------------------------ the cap

_SUFFIX = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20, "mib": 2**20,
           "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40, "tib": 2**40}


def parse_bytes(text: str, *, name: str = ENV_MAX_BYTES) -> int:
    """'8G' / '512MiB' / '1e9' / 'unlimited' -> bytes (binary suffixes).  CapacityError otherwise."""
    s = str(text).strip().lower().replace("_", "")
    if s in ("unlimited", "none", "inf", "0"):
        return _UNLIMITED
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)\s*([a-z]*)", s)
    if not m or m.group(2) not in _SUFFIX:
        raise FileLimitError(f"{name}={text!r} is not a size; give bytes or a number with K, M, G or T "
                             "(binary units), e.g. {name}=16G, or 'unlimited'".replace("{name}", name))
    v = float(m.group(1)) * _SUFFIX[m.group(2)]
    if not math.isfinite(v) or v < 1:
        raise FileLimitError(f"{name}={text!r} must be a positive size such as 16G")
    return int(min(v, _UNLIMITED))


def resolve_max_bytes(max_bytes: int | None = None) -> int:
    """The memory cap in bytes: ``max_bytes`` if given, else ``$CAPACITY_MAX_BYTES``, else 8 GiB."""
    if max_bytes is not None:
        if max_bytes <= 0:
            return _UNLIMITED
        return int(max_bytes)
    env = os.environ.get(ENV_MAX_BYTES)
    if env is not None and env.strip():
        return parse_bytes(env)
    return DEFAULT_MAX_BYTES


def fmt_bytes(n: float) -> str:
    """Human-readable binary size: 1536 -> '1.5 KiB'."""
    if n >= _UNLIMITED:
        return "unlimited"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if abs(n) < 1024 or unit == "EiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def cap_hint() -> str:
    return f"set {ENV_MAX_BYTES} (e.g. {ENV_MAX_BYTES}=32G) to raise the cap if this machine has the memory"


# ------------------------------------------------------------------------ reading


def _match_kind(key: str, allowed: Mapping[str, str] | None) -> str | None:
    """The kind expected for member ``key`` (None if not allowed).  Patterns may contain ``{i}``
    (a decimal index without leading zeros)."""
    if allowed is None:
        return REAL
    if key in allowed:
        return allowed[key]
    for pat, kind in allowed.items():
        if "{i}" in pat:
            rx = re.escape(pat).replace(re.escape("{i}"), r"(?:0|[1-9][0-9]{0,8})")
            if re.fullmatch(rx, key):
                return kind
    return None


def _check_dtype(where: str, dtype: np.dtype, kind: str) -> None:
    if dtype.hasobject:
        raise DataFileError(f"{where} holds Python objects (dtype object), which could only be read by unpickling "
                            f"(never done); save it as {_KIND_WORDS[kind]}")
    if dtype.names is not None or dtype.subdtype is not None:
        raise DataFileError(f"{where} has a structured dtype {dtype}; save it as a plain array of {_KIND_WORDS[kind]}")
    k = dtype.kind
    if kind in (REAL, INT):
        if k == "c":
            raise DataFileError(f"{where} is complex ({dtype}); the toolkit needs {_KIND_WORDS[kind]}")
        if k in "US":
            raise DataFileError(f"{where} holds strings ({dtype}); expected {_KIND_WORDS[kind]}")
        if kind == INT and k not in "biu":
            raise DataFileError(f"{where} has dtype {dtype}; expected integers")
        if k not in "biuf":
            raise DataFileError(f"{where} has unsupported dtype {dtype}; expected {_KIND_WORDS[kind]}")
        if k == "f" and dtype.itemsize > 8:
            raise DataFileError(f"{where} has extended precision ({dtype}); convert it to float64")
    else:
        if k != "U":
            raise DataFileError(f"{where} has dtype {dtype}; expected {_KIND_WORDS[kind]} (a numpy unicode array)")


def _check_central_directory(fh, path: str, max_members: int) -> None:
    """Refuse archives with too many members from the zip's end record, before zipfile parses
    (and allocates) the whole member list."""
    try:
        endrec = zipfile._EndRecData(fh)  # noqa: SLF001  (stable private helper of zipfile)
    except (AttributeError, OSError):  # pragma: no cover - very old/new Pythons: zipfile checks below
        return
    if endrec is None:
        raise DataFileError(f"{path}: not a readable .npz file (not a zip archive)")
    entries = int(endrec[zipfile._ECD_ENTRIES_TOTAL])
    size = int(endrec[zipfile._ECD_SIZE])
    if entries > max_members or size > max_members * 512:
        raise FileLimitError(f"{path}: the archive lists {entries} members ({fmt_bytes(size)} of directory); at most "
                             f"{max_members} are read; this is not a file the toolkit wrote")
    fh.seek(0)


def _read_header(fp, where: str):
    version = npformat.read_magic(fp)
    if version == (1, 0):
        return npformat.read_array_header_1_0(fp)
    if version == (2, 0):
        return npformat.read_array_header_2_0(fp)
    if version == (3, 0):  # utf-8 header (rare: non-ASCII field names)
        return npformat._read_array_header(fp, version=version)  # noqa: SLF001
    raise DataFileError(f"{where}: unsupported .npy format version {version}")  # pragma: no cover


class _Counting:
    """A read-only stream that counts bytes and refuses to go past ``limit``."""

    def __init__(self, fp, limit: int, where: str):
        self.fp, self.limit, self.n, self.where = fp, limit, 0, where

    def read(self, size: int = -1) -> bytes:
        left = self.limit - self.n
        if size is None or size < 0 or size > left + 1:
            size = left + 1
        data = self.fp.read(size)
        self.n += len(data)
        if self.n > self.limit:
            raise FileLimitError(f"{self.where} decompresses to more than its declared {self.limit} bytes; "
                                 "the file is corrupt or crafted")
        return data


def read_npz(path: str | os.PathLike, *, allowed: Mapping[str, str] | None = None, max_bytes: int | None = None,
             max_members: int = DEFAULT_MAX_MEMBERS, max_text_bytes: int = DEFAULT_MAX_TEXT_BYTES,
             max_digits: int = DEFAULT_MAX_DIGITS, unknown: str = "ignore", what: str = ".npz file") -> dict[str, np.ndarray]:
    """Read a ``.npz`` safely (module docstring): checked headers, capped sizes, no pickles.

    Args:
      path: the file.
      allowed: member name (without ``.npy``) -> kind, one of ``"real"`` (bool / int / float up to
        64 bits), ``"int"`` (bool / int), ``"text"`` (a 0-d unicode string of at most
        ``max_text_bytes``) or ``"intstr"`` (a unicode array of decimal integer strings of at
        most ``max_digits`` characters; parse with :func:`int_strings`).  A name may contain
        ``{i}`` for a decimal index, e.g. ``"kernel_{i}"``.  ``None`` allows every member as
        ``"real"``.
      max_bytes: memory cap for the arrays read (default: :func:`resolve_max_bytes`).
      max_members: most members an archive may list.
      unknown: ``"ignore"`` (skip members not in ``allowed``, without decompressing them) or
        ``"error"``.
      what: what the file is, for messages (``"DATA.npz"``, ``"NET.npz"``).

    Returns:
      name -> array (native byte order; shapes and dtypes as stored).  Members not allowed are
      absent (``unknown="ignore"``).  Checking that required members are present is the caller's.

    Raises:
      DataFileError: missing/unreadable file, not a zip, bad members, wrong dtypes, corrupt data;
      FileLimitError (a DataFileError): sizes beyond the cap, too many members, zip bombs.
    """
    if unknown not in ("ignore", "error"):
        raise ValueError(f"unknown must be 'ignore' or 'error', not {unknown!r}")
    bad = [k for k in (allowed or {}).values() if k not in KINDS]
    if bad:
        raise ValueError(f"unknown member kind(s) {bad}; use {', '.join(KINDS)}")
    path = os.fspath(path)
    cap = resolve_max_bytes(max_bytes)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such file") from None
    except OSError as e:
        raise DataFileError(f"{path}: cannot read it ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataFileError(f"{path}: is a directory; give the path of a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise DataFileError(f"{path}: not a regular file (a device, FIFO or socket); give the path of a {what}")
    out: dict[str, np.ndarray] = {}
    try:
        with open(path, "rb") as fh:
            _check_central_directory(fh, path, max_members)
            with zipfile.ZipFile(fh) as zf:
                infos = zf.infolist()
                if len(infos) > max_members:
                    raise FileLimitError(f"{path}: the archive has {len(infos)} members; at most {max_members} are read")
                seen: set[str] = set()
                total = 0
                plan = []
                for info in infos:
                    name = info.filename
                    if name in seen:
                        raise DataFileError(f"{path}: member {name!r} appears twice; the file is corrupt or crafted")
                    seen.add(name)
                    if info.is_dir() or not name.endswith(".npy"):
                        raise DataFileError(f"{path}: member {name!r} is not a .npy array; a {what} holds only .npy "
                                            "members (write it with numpy.savez)")
                    key = name[:-4]
                    kind = _match_kind(key, allowed)
                    if kind is None:
                        if unknown == "error":
                            names = ", ".join(sorted(allowed)) if allowed else ""
                            raise DataFileError(f"{path}: unexpected member {key!r} in a {what} (allowed: {names})")
                        continue
                    where = f"{path}: member {key!r}"
                    if info.flag_bits & 0x1:
                        raise DataFileError(f"{where} is encrypted; save the file with numpy.savez")
                    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                        raise DataFileError(f"{where} uses zip compression method {info.compress_type}; only stored or "
                                            "deflated members are read (numpy.savez / numpy.savez_compressed)")
                    if info.file_size > cap:
                        raise FileLimitError(f"{where} declares {fmt_bytes(info.file_size)} uncompressed, more than the "
                                             f"memory cap of {fmt_bytes(cap)}; {cap_hint()}")
                    total += info.file_size
                    if total > cap:
                        raise FileLimitError(f"{path}: its arrays declare {fmt_bytes(total)} or more uncompressed, more "
                                             f"than the memory cap of {fmt_bytes(cap)}; {cap_hint()}")
                    plan.append((info, key, kind, where))
                for info, key, kind, where in plan:
                    out[key] = _read_member(zf, info, key, kind, where, max_text_bytes, max_digits)
    except (DataFileError, ValueError) as e:
        if isinstance(e, DataFileError):
            raise
        raise DataFileError(f"{path}: not a readable {what} ({_short(e)})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, TypeError, SyntaxError,
            RecursionError, MemoryError, OverflowError) as e:
        raise DataFileError(f"{path}: not a readable {what} ({_short(e)})") from None
    return out


def _short(e: BaseException, limit: int = 160) -> str:
    s = " ".join(str(e).split()) or type(e).__name__
    return s if len(s) <= limit else s[:limit] + "..."


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, kind: str, where: str,
                 max_text_bytes: int, max_digits: int) -> np.ndarray:
    with zf.open(info) as raw:
        fp = _Counting(raw, info.file_size, where)
        try:
            shape, fortran, dtype = _read_header(fp, where)
        except ValueError as e:
            raise DataFileError(f"{where}: not a valid .npy array ({_short(e)})") from None
        _check_dtype(where, dtype, kind)
        count = math.prod(int(s) for s in shape)
        nbytes = count * dtype.itemsize
        data_bytes = info.file_size - fp.n
        if nbytes != data_bytes:
            raise FileLimitError(f"{where} declares shape {tuple(shape)} of {dtype} ({fmt_bytes(nbytes)}) but holds "
                                 f"{fmt_bytes(max(data_bytes, 0))} of data; the file is corrupt or crafted")
        if kind == TEXT:
            if tuple(shape) != ():
                raise DataFileError(f"{where} must be a single string (shape ()); got shape {tuple(shape)}")
            if nbytes > max_text_bytes:
                raise FileLimitError(f"{where} is a string of {fmt_bytes(nbytes)}; at most {fmt_bytes(max_text_bytes)} "
                                     "is read")
        if kind == INTSTR and dtype.itemsize // 4 > max_digits + 1:
            raise FileLimitError(f"{where} holds strings of up to {dtype.itemsize // 4} characters; exact integer "
                                 f"weights are limited to {max_digits} digits")
        arr = np.empty(count, dtype=dtype)
        if nbytes:
            buf = memoryview(arr.view(np.uint8))
            pos = 0
            while pos < nbytes:
                chunk = fp.read(min(_READ_CHUNK, nbytes - pos))
                if not chunk:
                    raise DataFileError(f"{where} is truncated ({pos} of {nbytes} bytes); the file is corrupt")
                buf[pos:pos + len(chunk)] = chunk
                pos += len(chunk)
        if fp.read(1):
            raise FileLimitError(f"{where} has data beyond its declared shape; the file is corrupt or crafted")
    shape = tuple(int(s) for s in shape)
    arr = arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


# ------------------------------------------------------------ text, JSON, integers


def text_member(arrays: Mapping[str, np.ndarray], key: str, *, path: str = "", default: str | None = None,
                choices: Iterable[str] | None = None) -> str:
    """The string stored in 0-d member ``key`` (read with kind ``"text"``), or ``default`` when
    absent; with ``choices``, a value outside them is refused with a message listing them."""
    if key not in arrays:
        if default is None:
            raise DataFileError(f"{path}: missing member {key!r}")
        return default
    a = arrays[key]
    if a.shape != () or a.dtype.kind != "U":
        raise DataFileError(f"{path}: member {key!r} must be one string; got dtype {a.dtype}, shape {a.shape}")
    s = str(a[()])
    if choices is not None:
        choices = list(choices)
        if s not in choices:
            raise DataFileError(f"{path}: member {key!r} is {s[:40]!r}; expected one of {', '.join(choices)}")
    return s


def _strict_constant(name: str):
    raise ValueError(f"{name} is not standard JSON")


def json_object(text: str, *, path: str = "", key: str = "meta",
                fields: Mapping[str, type | tuple[type, ...]] | None = None, strict: bool = False) -> dict:
    """Parse ``text`` as a JSON object; check the types of the named ``fields`` when present.

    ``strict`` refuses ``NaN`` / ``Infinity`` (not standard JSON; older files contain them, so
    readers default to accepting them).  ``int`` fields refuse booleans; ``float`` fields accept
    integers.  Deeply nested or malformed text gives one-line :class:`DataFileError`.
    """
    where = f"{path}: {key}" if path else key
    try:
        obj = json.loads(text, parse_constant=_strict_constant if strict else None)
    except RecursionError:
        raise DataFileError(f"{where} is nested too deeply to be a metadata object") from None
    except ValueError as e:  # JSONDecodeError, too-long integer literals, non-standard constants
        raise DataFileError(f"{where} is not valid JSON ({_short(e, 100)})") from None
    if not isinstance(obj, dict):
        raise DataFileError(f"{where} must be a JSON object ({{...}}); got {type(obj).__name__ if obj is not None else 'null'}")
    for name, types in (fields or {}).items():
        if name not in obj:
            continue
        types = types if isinstance(types, tuple) else (types,)
        v = obj[name]
        if float in types and int not in types:
            types = types + (int,)
        ok = isinstance(v, types) and not (isinstance(v, bool) and bool not in types)
        if not ok:
            want = " or ".join(_json_type_name(t) for t in types if not (t is int and float in types))
            raise DataFileError(f"{where} field {name!r} must be {want}; got {_json_type_name(type(v))}")
    return obj


def _json_type_name(t) -> str:
    return {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
            bool: "true/false", type(None): "null"}.get(t, t.__name__)


def json_dumps_standard(obj, **kwargs) -> str:
    """``json.dumps`` writing standard JSON: non-finite floats become ``null``, NumPy scalars and
    arrays plain numbers and lists (so :func:`json_object` with ``strict=True`` reads it back)."""

    def clean(o):
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [clean(v) for v in o]
        if isinstance(o, np.ndarray):
            return clean(o.tolist())
        if isinstance(o, np.generic):
            return clean(o.item())
        if isinstance(o, float) and not math.isfinite(o):
            return None
        return o

    kwargs.setdefault("sort_keys", True)
    kwargs.setdefault("default", str)
    return json.dumps(clean(obj), allow_nan=False, **kwargs)


_INT_RX = re.compile(r"[+-]?[0-9]+")
_CHUNK_DIGITS = 4000  # below Python's default int <-> str digit limit (4300)


def parse_decimal_int(s: str, *, max_digits: int = DEFAULT_MAX_DIGITS, where: str = "value") -> int:
    """A decimal integer string -> int (ASCII digits with an optional sign, at most ``max_digits``
    digits; parsed in chunks, so Python's 4300-digit conversion limit does not apply)."""
    if len(s) > max_digits + 1 or not _INT_RX.fullmatch(s):
        shown = s if len(s) <= 24 else s[:20] + "..."
        if len(s) > max_digits + 1:
            raise FileLimitError(f"{where} has {len(s)} characters; exact integers are limited to {max_digits} digits")
        raise DataFileError(f"{where} = {shown!r} is not a decimal integer")
    neg = s[0] == "-"
    digits = s.lstrip("+-")
    if len(digits) > max_digits:
        raise FileLimitError(f"{where} has {len(digits)} digits; exact integers are limited to {max_digits} digits")
    if len(digits) <= _CHUNK_DIGITS:
        v = int(digits)
    else:
        v = 0
        for i in range(0, len(digits), _CHUNK_DIGITS):
            part = digits[i:i + _CHUNK_DIGITS]
            v = v * 10 ** len(part) + int(part)
    return -v if neg else v


def int_strings(arr: np.ndarray, *, path: str = "", key: str = "", max_digits: int = DEFAULT_MAX_DIGITS) -> np.ndarray:
    """An array of decimal integer strings (kind ``"intstr"``) -> object array of Python ints,
    same shape.  Junk (empty, spaces, floats, non-ASCII digits) and over-long strings are refused,
    naming the member and index."""
    a = np.asarray(arr)
    if a.dtype.kind != "U":
        raise DataFileError(f"{path}: member {key!r} must hold decimal integer strings; got dtype {a.dtype}")
    if a.dtype.itemsize // 4 > max_digits + 1:
        raise FileLimitError(f"{path}: member {key!r} holds strings of up to {a.dtype.itemsize // 4} characters; exact "
                             f"integers are limited to {max_digits} digits")
    out = np.empty(a.shape, dtype=object)
    for idx, s in np.ndenumerate(a):
        out[idx] = parse_decimal_int(str(s), max_digits=max_digits, where=f"{path}: {key}{list(idx)}")
    return out


# ------------------------------------------------------------------------ writing


def _same_file(a: str, b: str) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output_path(path: str | os.PathLike, *, inputs: Iterable = (), force: bool = False,
                      flag: str = "--out", force_flag: str = "--force") -> Path:
    """Check, before any work, that ``path`` may be written; returns it as a :class:`Path`.

    Refuses (OutputPathError, naming the path and the fix): an empty path; a path that is the
    same file as any of ``inputs`` (resolved paths, or :func:`os.path.samefile` for hard links;
    ``None`` entries are skipped); a directory, device, FIFO or socket; a symbolic link unless
    ``force`` (the link itself is then replaced, never its target); an existing regular file
    unless ``force``; a parent directory that does not exist or cannot be written (probed by
    creating and removing a hidden file, which also catches read-only mounts as root).
    ``flag`` and ``force_flag`` name the command-line options in the messages.
    """
    p = os.fspath(path)
    if not p or p.endswith(os.sep):
        raise OutputPathError(f"{flag} {p!r}: give a file name")
    for inp in inputs:
        if inp is None:
            continue
        inp = os.fspath(inp)
        if _same_file(p, inp):
            raise OutputPathError(f"{flag} {p} is the same file as the input {inp}; writing it would destroy the "
                                  f"input: choose another {flag}")
    try:
        st = os.lstat(p)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as e:
        raise OutputPathError(f"{flag} {p}: cannot inspect it ({e.strerror or e})") from None
    if st is not None:
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            if not force:
                raise OutputPathError(f"{flag} {p} is a symbolic link (to {os.readlink(p)}); refusing to replace it: "
                                      f"choose another {flag}, or pass {force_flag} to replace the link itself")
        elif stat.S_ISDIR(mode):
            raise OutputPathError(f"{flag} {p} is a directory; give a file name inside it")
        elif not stat.S_ISREG(mode):
            raise OutputPathError(f"{flag} {p} is not a regular file (a device, FIFO or socket); refusing to replace "
                                  f"it even with {force_flag}: choose another {flag}")
        elif not force:
            raise OutputPathError(f"{flag} {p} already exists; pass {force_flag} to overwrite it, or choose another {flag}")
    parent = os.path.dirname(os.path.abspath(p))
    if not os.path.isdir(parent):
        if os.path.lexists(parent):
            raise OutputPathError(f"{flag} {p}: {parent} is not a directory; choose another {flag}")
        raise OutputPathError(f"{flag} {p}: the directory {parent} does not exist; create it first")
    _probe_writable(parent, flag, p)
    return Path(p)


def _probe_writable(directory: str, flag: str, p: str) -> None:
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".capacity-probe-")
    except OSError as e:
        raise OutputPathError(f"{flag} {p}: cannot write in {directory} ({e.strerror or e}); choose a writable "
                              "directory") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_output_dir(path: str | os.PathLike, *, inputs: Iterable = (), flag: str = "--out",
                     create: bool = True) -> Path:
    """Check an output *directory* (figures, sweep stores): refuse a path that is an existing
    non-directory or one of ``inputs``; create it (with parents) when ``create``; probe that it is
    writable.  Returns it as a :class:`Path`."""
    p = os.fspath(path)
    if not p:
        raise OutputPathError(f"{flag}: give a directory")
    for inp in inputs:
        if inp is not None and _same_file(p, os.fspath(inp)):
            raise OutputPathError(f"{flag} {p} is the input {os.fspath(inp)}; choose another {flag}")
    if os.path.lexists(p) and not os.path.isdir(p):
        raise OutputPathError(f"{flag} {p} exists and is not a directory; choose another {flag}")
    if not os.path.isdir(p):
        if not create:
            raise OutputPathError(f"{flag} {p}: no such directory; create it first")
        try:
            os.makedirs(p, exist_ok=True)
        except OSError as e:
            raise OutputPathError(f"{flag} {p}: cannot create the directory ({e.strerror or e})") from None
    _probe_writable(p, flag, p)
    return Path(p)


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)  # pragma: no cover - non-Linux
    os.umask(old)  # pragma: no cover
    return old  # pragma: no cover


@contextlib.contextmanager
def _atomic(path: str | os.PathLike, mode: str):
    """Yield a file object on a hidden temporary file beside ``path``; on success fsync it and
    rename it over ``path``; on any exception (KeyboardInterrupt included) remove it."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{base}.", suffix=".partial")
    except OSError as e:
        raise OutputPathError(f"{path}: cannot write in {directory} ({e.strerror or e})") from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        try:
            st = os.stat(path)
            perm = stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else 0o666 & ~_umask()
        except OSError:
            perm = 0o666 & ~_umask()
        os.chmod(tmp, perm)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable (best effort)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def atomic_save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], *, compressed: bool = False) -> None:
    """Write ``arrays`` as a ``.npz`` at ``path`` atomically (never pickles: object arrays raise
    TypeError, a programming error).  Call :func:`check_output_path` first."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    for k, a in arrays.items():
        if a.dtype.hasobject:
            raise TypeError(f"array {k!r} has dtype object; store numbers, or integers as decimal strings")
    save = np.savez_compressed if compressed else np.savez
    with _atomic(path, "wb") as f:
        save(f, allow_pickle=False, **arrays)


def atomic_write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> None:
    """Write ``text`` at ``path`` atomically (as :func:`atomic_save_npz`)."""
    with _atomic(path, "w" if encoding is None else "wb") as f:
        f.write(text.encode(encoding) if encoding is not None else text)


# ------------------------------------------------------------------------ store lock


class StoreLock:
    """An exclusive ``flock`` on ``DIRECTORY/.capacity-lock`` for one sweep store.

    Use as a context manager around all writes to the store.  A second holder (another process,
    or another StoreLock on the same store in this process) gets :class:`StoreLockedError` naming
    the holder's pid.  The lock is released when the holder exits, however it exits, so a crash
    never leaves a stale lock.  (``flock`` is advisory and may not work across NFS clients.)
    """

    NAME = ".capacity-lock"

    def __init__(self, directory: str | os.PathLike, *, flag: str = "--out"):
        self.directory = os.fspath(directory)
        self.path = os.path.join(self.directory, self.NAME)
        self.flag = flag
        self._fd: int | None = None

    def acquire(self) -> "StoreLock":
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise OutputPathError(f"{self.flag} {self.directory}: cannot create the lock file ({e.strerror or e})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise StoreLockedError(f"{self.flag} {self.directory} is in use by another capacity process (pid {holder}); "
                                   f"wait for it to finish, or choose another {self.flag}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "StoreLock":
        return self.acquire()

    def __exit__(self, *exc) -> bool:
        self.release()
        return False
