"""Exercise 7: Vardi, Yehudai & Shamir's bit extraction with Telgarsky's triangle map, in exact integers."""

from __future__ import annotations

import functools

import numpy as np

from capacity.exercises._core import Check, CheckFailed, Exercise, load_source, need, tally

STATEMENT = r"""
# Exercise 7: bit extraction in exact integers

**Theorem** (`vardi2022`, Vardi, Yehudai & Shamir, ICLR 2022).  Width-12 ReLU networks of
depth $\tilde O(\sqrt N)$ memorize $N$ separated points; their weights need $\tilde O(\sqrt N)$
bits.  The engine is *bit extraction*: a whole group's codes are stored in one big integer
weight $U$ and read back, one bit per layer, by ReLUs.

**The triangle map.** For a $K$-bit integer $U$ put $V = 2U + 1$ (scale $2^{K+1}$; the
$+1$, half a unit, keeps $V$ off the tie points).  One layer of three ReLUs computes

$$ \Phi(V) = 2\,\mathrm{relu}(V) - 4\,\mathrm{relu}(V - 2^K), \qquad
   g(V) = \mathrm{relu}(V - 2^K) - \mathrm{relu}(V - 2^K - 1), $$

i.e. $\Phi = 2^{K+1}\varphi(V/2^{K+1})$ with Telgarsky's triangle $\varphi$, and the bit
$g = [V > 2^K]$.  Iterating $V \leftarrow \Phi(V)$ $K$ times emits $K$ bits $g_1 \dots g_K$.
These are **not** the binary digits of $U$: the orbit of the triangle map reads the *Gray code*.
If $U$ has binary digits $B_1 \dots B_K$ (most significant first) then
$g_1 = B_1$ and $g_k = B_{k-1} \oplus B_k$.  So to store bits
$G_1 \dots G_K$ choose $B_k = G_1 \oplus \dots \oplus G_k$.

**Tasks** (Python `int` only: the integers have hundreds of bits; floats lose them after 53):

1. `triangle_step(V, K)`: the pair $(\Phi(V), g(V))$ computed with the ReLUs above.
2. `encode(bits)`: the integer $U$ whose extraction reads back `bits` (a list of 0/1, first bit first).
3. `extract(U, K)`: the $K$ bits emitted by $K$ triangle steps started at $V = 2U + 1$.
4. `read_codes(U, K, b)`: extract and cut the stream into $K/b$ codes of $b$ bits (most
   significant first), accumulated as the network does it: `seg = 2 * seg + g`.
"""

STUB = '''"""Exercise 7: bit extraction with the triangle map, in exact integers.  Fill in the functions."""


def relu(v):
    return v if v > 0 else 0


def triangle_step(V, K):
    """(Phi(V), g(V)) with Phi = 2 relu(V) - 4 relu(V - 2^K), g = relu(V - 2^K) - relu(V - 2^K - 1)."""
    raise NotImplementedError("triangle_step")


def encode(bits):
    """Integer U (K = len(bits) bits) whose extraction reads back bits."""
    raise NotImplementedError("encode")


def extract(U, K):
    """The K bits emitted by K triangle steps from V = 2U + 1."""
    raise NotImplementedError("extract")


def read_codes(U, K, b):
    """The K // b codes of b bits each in the extracted stream."""
    raise NotImplementedError("read_codes")
'''

SOLUTION = '''"""Exercise 7, reference solution."""


def relu(v):
    return v if v > 0 else 0


def triangle_step(V, K):
    half = 2 ** K
    return 2 * relu(V) - 4 * relu(V - half), relu(V - half) - relu(V - half - 1)


def encode(bits):
    u, p = 0, 0
    for g in bits:
        p ^= int(g)  # binary digit = prefix XOR of the wanted bits
        u = 2 * u + p
    return u


def extract(U, K):
    V = 2 * U + 1
    out = []
    for _ in range(K):
        V, g = triangle_step(V, K)
        out.append(g)
    return out


def read_codes(U, K, b):
    codes, seg = [], 0
    for i, g in enumerate(extract(U, K)):
        seg = 2 * seg + g
        if (i + 1) % b == 0:
            codes.append(seg)
            seg = 0
    return codes
'''

HINTS = (
    "Everything is an int: 2 ** K, relu(v) = max(v, 0).  triangle_step is two lines.",
    "extract: V = 2U + 1, then K times (V, g) = triangle_step(V, K) and keep g.  Check it on U = 0b100: "
    "the bits are 1, 1, 0 (the Gray code of 100), not 1, 0, 0.",
    "encode: keep a running XOR p of the wanted bits; the k-th binary digit of U is p after the k-th bit "
    "(u = 2u + p).  read_codes: seg = 2 seg + g, emit seg every b bits.",
)


@functools.lru_cache(maxsize=None)
def _reference():
    return load_source(SOLUTION, "ex07_reference")


def bit_strings(seed: int, lengths):
    rng = np.random.default_rng(seed)
    return [[int(v) for v in rng.integers(0, 2, size=k)] for k in lengths]


def _show(bits):
    if not isinstance(bits, (list, tuple)):
        return repr(bits)
    s = "".join(str(b) if isinstance(b, int) and b in (0, 1) else f"[{b!r}]" for b in bits)
    return s if len(s) <= 24 else s[:10] + "..." + s[-10:]


def _first_diff(a, b):
    for i, (p, q) in enumerate(zip(a, b)):
        if p != q:
            return i
    return min(len(a), len(b))


def _int_only(v, what):
    if isinstance(v, bool) or not isinstance(v, int):
        raise CheckFailed(f"{what} is a {type(v).__name__} ({v!r}); use Python ints only (floats keep 53 bits)")
    return v


def check_triangle(module):
    f = need(module, "triangle_step")
    ref = _reference().triangle_step
    items = []
    for K in (3, 10, 60, 100):
        half = 2 ** K
        for V in sorted({0, 1, half - 1, half, half + 1, half + 2, 2 * half - 1, 2 * half, 3 * half // 2 + 1}):
            got = f(V, K)
            exp = ref(V, K)
            ok = isinstance(got, tuple) and len(got) == 2 and all(isinstance(g, int) for g in got) and got == exp
            items.append((ok, f"triangle_step(V = {V if K <= 10 else f'{V - half:+d} + 2^{K}'}, K = {K}) = {got!r}, "
                              f"expected {exp!r}" if K <= 10 else
                              f"triangle_step(V = 2^{K} {V - half:+d}, K = {K}) is not (Phi, g) = {exp!r} as ints"))
    return tally(items)


def _roundtrip_items(module, strings, seed, enc_from_student: bool, ext_from_student: bool):
    ref = _reference()
    enc = need(module, "encode") if enc_from_student else ref.encode
    ext = need(module, "extract") if ext_from_student else ref.extract
    items = []
    for k, bits in enumerate(strings):
        U = _int_only(enc(list(bits)), "encode(...)")
        got = ext(U, len(bits))
        got = list(got) if isinstance(got, (list, tuple)) else got
        ok = got == bits
        i = _first_diff(got, bits) if isinstance(got, list) else 0
        items.append((ok, f"bit string {k} (length {len(bits)}, seed {seed}): read back {_show(got)}, expected "
                          f"{_show(bits)} (first difference at bit {i})"))
    return tally(items)


def check_extract(module):
    strings = [[int(c) for c in f"{u:03b}"] for u in range(8)] + bit_strings(7201, (5, 17, 40, 64, 120))
    return _roundtrip_items(module, strings, 7201, enc_from_student=False, ext_from_student=True)


def check_encode(module):
    strings = bit_strings(7301, (1, 2, 8, 30, 53, 54, 90, 200))
    return _roundtrip_items(module, strings, 7301, enc_from_student=True, ext_from_student=False)


def check_roundtrip_long(module):
    return _roundtrip_items(module, bit_strings(7401, (300, 512)), 7401, True, True)


def check_codes(module):
    f = need(module, "read_codes")
    rng = np.random.default_rng(7501)
    items = []
    for trial, (m, b) in enumerate(((3, 4), (5, 7), (8, 13))):
        codes = [int(v) for v in rng.integers(0, 2 ** b, size=m)]
        bits = [int(c) for code in codes for c in format(code, f"0{b}b")]
        U = _reference().encode(bits)
        got = f(U, m * b, b)
        items.append((list(got) == codes if isinstance(got, (list, tuple)) else False,
                      f"codes trial {trial} ({m} codes of {b} bits, seed 7501): read {got!r}, expected {codes!r}"))
    return tally(items)


def check_hidden_very_long(module):
    return _roundtrip_items(module, bit_strings(9951, (1000, 777)), 9951, True, True)


EXERCISE = Exercise(
    id="07-vardi", number=7, title="Vardi et al.'s bit extraction in exact integers",
    topic="constructions / bit complexity", difficulty="medium", minutes=60, theorem="vardi2022",
    statement=STATEMENT, stub=STUB, solution=SOLUTION, hints=HINTS,
    checks=(
        Check("triangle step (Phi, g) with ReLUs, at the tie points", 2, check_triangle,
              "Phi = 2 relu(V) - 4 relu(V - 2^K); g = relu(V - 2^K) - relu(V - 2^K - 1); ints only."),
        Check("extract reads back the stored bits", 3, check_extract,
              "start at V = 2U + 1 (the +1 avoids ties) and apply triangle_step K times."),
        Check("encode stores bits so that extraction reads them back (Gray code)", 3, check_encode,
              "the extracted bits are the Gray code of U: binary digit k of U = XOR of the first k wanted bits."),
        Check("round trip of 300- and 512-bit streams", 1, check_roundtrip_long,
              "float arithmetic loses everything after 53 bits: ints only."),
        Check("codes read with seg = 2 seg + g", 1, check_codes, "emit a code every b bits, most significant first."),
        Check("round trip of 1000-bit streams", 1, check_hidden_very_long, "ints only.", public=False),
    ),
    wrong_answers={
        "plain binary instead of the Gray code": ("p ^= int(g)", "p = int(g)"),
        "missing the +1 offset (ties)": ("V = 2 * U + 1", "V = 2 * U"),
        "float arithmetic": ("half = 2 ** K", "half = 2.0 ** K"),
        "codes cut one bit late": ("if (i + 1) % b == 0:", "if i % b == 0 and i:"),
    },
    functions=("triangle_step", "encode", "extract", "read_codes"),
)
