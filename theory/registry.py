r"""The theorem registry: every result the toolkit states, with its condition and provenance.

A :class:`Theorem` holds the statement (plain text and LaTeX), a :class:`Condition` (a function
of the architecture returning the *capacity*, the number of points guaranteed; for negative
results the *threshold* T such that N > T points cannot always be fit), the provenance and the
construction that realizes it.

Provenance values (one per theorem, plus one per :class:`Claim` inside it):

* ``"confirmed"``: the coded condition, constants included, is stated by a source that was
  actually read (tags [P] paper text, [A] author talk, [R] reviews, [S1]/[S2] secondary notes of
  ``shared/reference/yun2019-digest.md``; full texts/abstracts in ``constructions-survey.md``).
* ``"reconstructed"``: a source confirms the condition including its leading constant, but the
  exact coded form (floors, side conditions) is ours and is achieved by our verified
  construction (RECON in the digest).
* ``"UNCONFIRMED"``: the coded formula itself (its constant or form) rests on memory or
  inference; only its existence or order of growth is confirmed.

Example:
  >>> from theory.registry import get, Architecture
  >>> t = get("yun3-relu")
  >>> t.condition(Architecture((40, 40))), t.provenance
  (400, 'reconstructed')
  >>> get("yun-necessity-3layer").condition(Architecture((4, 4)))
  38
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from theory.errors import CapacityError, WidthError
from theory import bounds

PROVENANCES = ("confirmed", "reconstructed", "UNCONFIRMED")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """Hidden widths (one per hidden layer; per residual block for residual theorems), dy, dx.

    ``repeat``: the ``widths`` pattern repeated this many times, so that the very long stacks of
    the residual and deep theorems (a million blocks at N = 1e10) are described without listing
    them; :attr:`depth` counts every layer.
    """

    widths: tuple[int, ...]
    dy: int = 1
    dx: int | None = None
    activation: str = "relu"
    repeat: int = 1

    @property
    def depth(self) -> int:
        """Number of hidden layers (blocks), repeats included."""
        return len(self.widths) * self.repeat

    def __str__(self) -> str:
        s = "-".join(map(str, self.widths)) or "(none)"
        if self.repeat > 1:
            s = f"({s}) x {self.repeat:,} = {self.depth:,} layers/blocks"
        extra = f", dy={self.dy}" + (f", dx={self.dx}" if self.dx is not None else "")
        return f"widths {s}{extra}"


@dataclasses.dataclass(frozen=True)
class Claim:
    """One part of a theorem with its own provenance and the digest/survey tags behind it."""

    text: str
    tags: str
    provenance: str


@dataclasses.dataclass(frozen=True)
class Condition:
    """Capacity (or, if ``negative``, impossibility threshold) as a function of the architecture.

    ``capacity(arch) -> int``; ``smallest_fn(n, arch) -> Architecture``: for a positive result the
    smallest architecture (same depth / dy / dx as ``arch``) whose capacity is >= n; for a negative
    result the smallest architecture the theorem does *not* exclude (T >= n), i.e. the lower bound.
    ``layers``: required number of hidden widths (None: any number >= ``min_layers``).
    ``certified``: for negative results, whether T is a proven bound with explicit constants.
    """

    capacity: Callable[[Architecture], int]
    formula: str
    smallest_fn: Callable[[int, Architecture], Architecture] | None = None
    negative: bool = False
    layers: int | None = None
    min_layers: int = 0
    needs_dx: bool = False
    certified: bool = True

    def validate(self, arch: Architecture) -> None:
        k = len(arch.widths)
        if self.layers is not None and k != self.layers:
            raise WidthError(f"this theorem needs exactly {self.layers} width(s) ({self.formula}); got {k}: "
                             f"{','.join(map(str, arch.widths)) or 'none'}")
        if k < self.min_layers:
            raise WidthError(f"this theorem needs at least {self.min_layers} width(s); got {k}")
        if any(w < 1 for w in arch.widths) or arch.dy < 1:
            raise WidthError(f"widths and dy must be positive integers; got {arch}")
        if self.needs_dx and (arch.dx is None or arch.dx < 1):
            raise WidthError(f"this theorem depends on the input dimension: pass dx (--dx DX) ({self.formula})")

    def __call__(self, arch: Architecture) -> int:
        self.validate(arch)
        return int(self.capacity(arch))

    def holds(self, arch: Architecture, n: int) -> bool:
        """Positive result: capacity >= n.  Negative result: the impossibility applies, n > T."""
        value = self(arch)
        return n > value if self.negative else value >= n

    def smallest(self, n: int, arch: Architecture) -> Architecture | None:
        if self.smallest_fn is None:
            return None
        return self.smallest_fn(int(n), arch)


@dataclasses.dataclass(frozen=True)
class Theorem:
    name: str
    title: str
    statement_text: str
    statement_latex: str
    condition: Condition | None
    provenance: str
    reason: str
    construction: str | None
    source: str
    claims: tuple[Claim, ...] = ()

    def __post_init__(self):
        assert self.provenance in PROVENANCES, self.provenance
        assert all(c.provenance in PROVENANCES for c in self.claims)

    @property
    def one_line(self) -> str:
        return self.statement_text.split(". ")[0].rstrip(".") + "."

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("name", "title", "statement_text", "statement_latex", "provenance",
                                           "reason", "construction", "source")}
        d["claims"] = [dataclasses.asdict(c) for c in self.claims]
        d["condition"] = None if self.condition is None else {
            "formula": self.condition.formula, "negative": self.condition.negative,
            "certified": self.condition.certified}
        return d


# ----------------------------------------------------------------------------- helpers


def _like(arch: Architecture, widths) -> Architecture:
    return dataclasses.replace(arch, widths=tuple(int(w) for w in widths))


def _deep_capacity(arch: Architecture) -> int:
    return bounds.deep_capacity(list(arch.widths), arch.dy)


def _deep_smallest(n: int, arch: Architecture) -> Architecture:
    """Smallest uniform width (same depth) with deep_capacity >= n."""
    return _like(arch, [bounds.smallest_uniform_deep_width(n, len(arch.widths), arch.dy)] * len(arch.widths))


def _repeated(arch: Architecture, width: int, count: int) -> Architecture:
    """``count`` layers/blocks of one ``width``, stored compactly."""
    return dataclasses.replace(arch, widths=(int(width),), repeat=max(int(count), 1))


def _vardi_smallest(n: int, arch: Architecture) -> Architecture:
    return _repeated(arch, 12, bounds.vardi_depth_estimate(n))


def _hardt_ma_smallest(n: int, arch: Architecture) -> Architecture:
    k = max(1, (n - 1).bit_length())
    return _repeated(arch, k, -(-n // k))


DIGEST = "shared/reference/yun2019-digest.md"
SURVEY = "shared/reference/constructions-survey.md"
YUN = "Yun, Sra & Jadbabaie, 'Small ReLU networks are powerful memorizers', NeurIPS 2019 (arXiv 1810.07770)"

C, R, U = "confirmed", "reconstructed", "UNCONFIRMED"

_THEOREMS = [
    Theorem(
        "yun3-relu", "3-layer ReLU memorizer (regression)",
        "Two hidden ReLU layers with 4*floor(d1/4)*floor(d2/(4*dy)) >= N memorize any N distinct inputs with "
        "labels in [-1,1]^dy. No general position is needed; d1 = d2 = 2*sqrt(N) suffice for dy = 1.",
        r"4\lfloor d_1/4\rfloor\lfloor d_2/(4d_y)\rfloor \ge N \Rightarrow \exists\theta: f_\theta(x_i)=y_i\ \forall i",
        Condition(lambda a: bounds.yun3_capacity(a.widths[0], a.widths[1], a.dy),
                  "4*floor(d1/4)*floor(d2/(4*dy))",
                  lambda n, a: _like(a, bounds.yun3_smallest_widths(n, a.dy)), layers=2),
        R, "The scaling d1*d2 >= 4*N*dy (constant 4 included) is [S1] and d1 = d2 = 2*sqrt(N) is [A]; the exact "
        "floor form is UNCONFIRMED typography (digest §13.1); our construction (RECON, digest §3.3/§12, here "
        "capacity.constructions.yun3) achieves the floor form exactly.",
        "yun3", f"{YUN}, 3-layer theorem (numbering UNCONFIRMED); {DIGEST} §2 #1, §3",
        (Claim("capacity scales as d1*d2 >= 4*N*dy", "[S1]", C),
         Claim("two hidden layers of 2*sqrt(N) neurons suffice for dy = 1", "[A]", C),
         Claim("exact floor form 4*floor(d1/4)*floor(d2/(4*dy))", "UNCONFIRMED (typography, §13.1)", U),
         Claim("weight-setting procedure meeting the bound exactly", "RECON (§3.3, verified §12)", R))),
    Theorem(
        "yun3-hardtanh", "3-layer hard-tanh memorizer",
        "Two hidden hard-tanh layers with 4*floor(d1/2)*floor(d2/(2*dy)) >= N memorize any N distinct inputs "
        "with labels in [-1,1]^dy (d counts hard-tanh units; one hard-tanh = two ReLUs).",
        r"4\lfloor d_1/2\rfloor\lfloor d_2/(2d_y)\rfloor \ge N",
        Condition(lambda a: bounds.yun3_capacity(a.widths[0], a.widths[1], a.dy, "hardtanh"),
                  "4*floor(d1/2)*floor(d2/(2*dy))",
                  lambda n, a: _like(a, bounds.yun3_smallest_widths(n, a.dy, "hardtanh")), layers=2),
        U, "Only the existence of a hard-tanh version is confirmed [S2]; the formula is UNCONFIRMED (digest §13.3). "
        "Our construction (RECON) achieves it.",
        "yun3", f"{YUN}; {DIGEST} §2 #1', §13.3 (build with construction 'yun3', activation='hardtanh')",
        (Claim("a hard-tanh version of the 3-layer theorem exists", "[S2]", C),
         Claim("formula 4*floor(d1/2)*floor(d2/(2*dy)) >= N", "UNCONFIRMED (§13.3)", U),
         Claim("construction achieving the formula", "RECON", R))),
    Theorem(
        "yun-classify", "4-layer ReLU classifier",
        "Three hidden ReLU layers with 4*floor(d1/4)*floor(d2/4) >= N and d3 >= 4*dy classify any N distinct "
        "inputs into dy classes (our construction outputs the exact one-hot vector). Width Theta(sqrt(N) + dy).",
        r"4\lfloor d_1/4\rfloor\lfloor d_2/4\rfloor \ge N,\ d_3 \ge 4 d_y",
        Condition(lambda a: bounds.yun_classify_capacity(*a.widths, a.dy), "4*floor(d1/4)*floor(d2/4) if d3 >= 4*dy",
                  lambda n, a: _like(a, bounds.yun_classify_smallest_widths(n, a.dy)), layers=3),
        R, "[S1] states d1*d2 >= 4N and d3 >= 4p (constants included); [R] gives the 2k-2k-4k ImageNet example; "
        "argmax vs one-hot and the floor form are UNCONFIRMED (digest §13.4); RECON verified (§4, §12).",
        "yun-classify", f"{YUN}; {DIGEST} §2 #2, §4",
        (Claim("d1*d2 >= 4N and d3 >= 4*dy suffice", "[S1]", C),
         Claim("2k-2k-4k hidden layers classify ImageNet (N ~ 1e6, 1000 classes)", "[R]", C),
         Claim("exact statement (argmax vs one-hot) and floor form", "UNCONFIRMED (§13.4)", U))),
    Theorem(
        "yun-deep", "Deep ReLU networks: W = Omega(N) hidden parameters suffice",
        "An L-layer ReLU network whose hidden layers hold W = Omega(N) parameters memorizes N points; with the "
        "VC bound O(W L log W) this is tight for fixed L. Capacity here: our chained construction "
        "(about sum over consecutive hidden pairs of d_l*d_{l+1}/(4*dy), minus carried neurons).",
        r"W_{\mathrm{hidden}} = \Omega(N) \Rightarrow \text{memorization};\ "
        r"\mathrm{cap} \approx \sum_l d_l d_{l+1}/(4 d_y)",
        Condition(_deep_capacity, "theory.bounds.deep_capacity(widths, dy)", _deep_smallest,
                  min_layers=2),
        U, "W = Omega(N) suffices and tightness via VC is [P]; the proof chains 3-layer blocks [R]; capacity of order "
        "sum d_l d_(l+1) is [S2] with constants dropped; the exact width-splitting condition, carry neurons and "
        "minimum width are UNCONFIRMED (digest §13.6). The coded capacity is our RECON chaining (§6).",
        "yun-deep", f"{YUN}; {DIGEST} §2 #4, §6",
        (Claim("W = Omega(N) hidden parameters suffice; tight for fixed L via VC", "[P]", C),
         Claim("proof chains 3-layer blocks", "[R]", C),
         Claim("capacity of order sum_l d_l d_(l+1)", "[S2] (constants dropped)", C),
         Claim("exact width split, carry neurons, minimum width", "UNCONFIRMED (§13.6)", U))),
    Theorem(
        "yun-resnet", "Residual networks: O(N/dx + dy) hidden nodes under general position",
        "For inputs in general position, a residual network with about 3*(N/dx + dy) hidden ReLUs classifies N "
        "points into dy classes exactly (our Baum-style blocks: 3 ReLUs per chunk of <= dx same-class points).",
        r"\#\text{hidden} = O(N/d_x + d_y)\ \text{(general position)}",
        Condition(lambda a: bounds.chunk_capacity(a.repeat * sum(int(w) // 3 for w in a.widths), a.dx, a.dy),
                  "chunks*dx - (dy-1)*(dx-1), chunks = sum_b floor(w_b/3) (widths = hidden ReLUs per block)",
                  lambda n, a: _repeated(a, 3, bounds.resnet_smallest_blocks(n, a.dx, a.dy)), min_layers=1,
                  needs_dx=True),
        U, "Hidden nodes of order N/dx under general position is [P] + [R]; the architecture, the additive dy "
        "term, constants and regression vs classification are UNCONFIRMED (digest §13.7); capacity formula is "
        "the worst case over class splits of our RECON (§7).",
        "yun-resnet", f"{YUN}; {DIGEST} §2 #5, §7",
        (Claim("general position; total hidden nodes of order N/dx suffice", "[P], [R]", C),
         Claim("architecture, dy term, constants, classification vs regression", "UNCONFIRMED (§13.7)", U),
         Claim("3 ReLUs per chunk of <= dx points", "RECON (§7, verified)", R))),
    Theorem(
        "yun-necessity-3layer", "Lower bound: width Omega(sqrt(N)) is necessary (3 layers)",
        "If 2*d1*d2 + d2 + 2 < N, some dataset of N points (scalar labels) cannot be memorized by a ReLU network "
        "with two hidden layers of widths d1, d2. Argument: a 1-D alternating dataset needs N-1 linear pieces; "
        "such a net has at most 2*d1*d2 + d2 + 1.",
        r"2d_1d_2 + d_2 + 2 < N \Rightarrow \exists\ \text{dataset not memorizable}",
        Condition(lambda a: bounds.necessity_threshold_3layer(*a.widths), "threshold T = 2*d1*d2 + d2 + 2; fails if N > T",
                  lambda n, a: _like(a, bounds.necessity_escape_widths(n)), negative=True, layers=2),
        C, "Stated by two independent secondary sources [S1, S2]; the hard dataset used in the paper and whether it "
        "is stated for p-piece activations are UNCONFIRMED (digest §13.5). Our certificate (capacity.pieces) uses "
        "the alternating dataset on a line and proves the statement independently.",
        None, f"{YUN}; {DIGEST} §2 #3, §5",
        (Claim("2*d1*d2 + d2 + 2 < N implies some dataset cannot be memorized", "[S1], [S2]", C),
         Claim("the dataset used (alternating labels on a line)", "UNCONFIRMED (§13.5)", U),
         Claim("p-piece generalisation p(p-1)d1d2 + (p-1)d2 + 2", "UNCONFIRMED (§5)", U))),
    Theorem(
        "yun-necessity-2layer", "Lower bound for one hidden layer",
        "If d1 + 2 < N, some dataset of N points (scalar labels) cannot be memorized by a ReLU network with one "
        "hidden layer of width d1 (at most d1 + 1 linear pieces on a line, N - 1 needed).",
        r"d_1 + 2 < N \Rightarrow \exists\ \text{dataset not memorizable}",
        Condition(lambda a: bounds.necessity_threshold_2layer(a.widths[0]), "threshold T = d1 + 2; fails if N > T",
                  lambda n, a: _like(a, [max(n - 2, 1)]), negative=True, layers=1),
        C, "Stated by [S1] only (digest §5); the dataset is UNCONFIRMED (§13.5). Proved independently by our "
        "piece-count certificate.",
        None, f"{YUN}; {DIGEST} §2 #3, §5",
        (Claim("d1 + 2 < N implies some dataset cannot be memorized", "[S1]", C),
         Claim("the dataset used", "UNCONFIRMED (§13.5)", U))),
    Theorem(
        "yun-sgd", "SGD near a memorizing global minimum",
        "Started near a memorizing global minimum, (mini-batch) SGD quickly finds a nearby point with much smaller "
        "empirical risk. No convergence guarantee is claimed. All quantitative details are unconfirmed.",
        r"\|\theta_0-\theta^*\|\le\rho \Rightarrow \min_{t\le T} R(\theta_t) \ll R(\theta_0)\ \text{(w.h.p.)}",
        None,
        U, "The qualitative statement is [P] (abstract) and [R] (no convergence guarantee); the setting and every "
        "quantitative part (loss, step size, radius, batch size, probability, rate, exponent in rho, the no-kink "
        "assumption) are UNCONFIRMED (digest §8, §13.8).",
        None, f"{YUN}; {DIGEST} §2 #6, §8",
        (Claim("SGD near a memorizing minimum quickly reaches much smaller risk", "[P], [R]", C),
         Claim("no convergence guarantee is claimed", "[R]", C),
         Claim("loss, step size, radius, batch, probability, rate, exponent, no-kink assumption",
               "UNCONFIRMED (§13.8)", U))),
    Theorem(
        "zhang2017", "Zhang et al. 2017: one hidden layer, 2N + d weights",
        "A depth-2 ReLU network with N hidden units (2N + d weights) fits any real labels of N distinct points.",
        r"d_1 \ge N \Rightarrow \text{memorization}\ (2N + d\ \text{weights})",
        Condition(lambda a: bounds.zhang_capacity(a.widths[0]), "d1", lambda n, a: _like(a, [n]), layers=1),
        C, "Theorem 1 of Zhang et al. (ICLR 2017) as restated in public reproductions (survey §1 #4, §2.4); also "
        "the 'N hidden nodes' baseline in Yun et al.'s abstract [P].",
        "zhang", "Zhang, Bengio, Hardt, Recht, Vinyals, ICLR 2017, Thm 1; " + SURVEY + " §2.4",
        (Claim("N hidden ReLUs, 2N + d weights, any real labels", "survey §2.4 (restated Thm 1)", C),)),
    Theorem(
        "baum1988", "Baum 1988: ceil(N/dx) threshold units",
        "One hidden layer of ceil(N/dx) threshold units realizes any dichotomy of N points in general position in "
        "R^dx; some dichotomies need that many.",
        r"d_1 \ge \lceil N/d_x\rceil \Rightarrow \text{any dichotomy}",
        Condition(lambda a: bounds.baum_capacity(a.widths[0], a.dx), "d1*dx (binary labels, threshold units)",
                  lambda n, a: _like(a, [-(-n // a.dx)]), layers=1, needs_dx=True),
        C, "The count is from Baum's abstract and Bubeck et al.'s restatement (survey §2.1); the slab mechanism "
        "is the standard reading, UNCONFIRMED in detail; our ReLU surrogate needs steep ramps.",
        "baum", "Baum, J. Complexity 4(3):193-215, 1988; " + SURVEY + " §2.1",
        (Claim("ceil(N/dx) threshold units for any dichotomy, general position", "survey §2.1 (abstract)", C),
         Claim("slab construction details", "UNCONFIRMED (survey §2.1)", U))),
    Theorem(
        "bubeck2020", "Bubeck et al. 2020: ReLU Baum with real labels",
        "One hidden ReLU layer of about 4*ceil(N/dx) neurons fits arbitrary real labels of N points in general "
        "position exactly (coded: dx*floor(d1/4), 4 ReLUs per group of dx points).",
        r"d_x\lfloor d_1/4\rfloor \ge N",
        Condition(lambda a: bounds.bubeck_capacity(a.widths[0], a.dx), "dx*floor(d1/4)",
                  lambda n, a: _like(a, [4 * -(-n // a.dx)]), layers=1, needs_dx=True),
        R, "'About 4x Baum's neuron count, real labels, exact' is from the NeurIPS 2020 abstract (survey §2.2); the "
        "4-ReLUs-per-group mechanism and hence the exact count are UNCONFIRMED and realized by our construction.",
        "bubeck", "Bubeck, Eldan, Lee, Mikulincer, NeurIPS 2020; " + SURVEY + " §2.2",
        (Claim("about 4x Baum's count of ReLUs fits real labels exactly", "survey §2.2 (abstract)", C),
         Claim("4 ReLUs per group mechanism, exact count", "UNCONFIRMED (survey §2.2)", U))),
    Theorem(
        "hardt-ma2017", "Hardt & Ma 2017: residual networks, O(n log n + r^2) parameters",
        "Under unit norm and pairwise separation, ceil(n/k) residual blocks h <- h + V relu(U h + s) of k = O(log n) "
        "units map every point to its one-hot label (r classes).",
        r"\lceil n/k\rceil\ \text{blocks of width } k = O(\log n) \Rightarrow \text{exact one-hot}",
        Condition(lambda a: a.repeat * bounds.hardt_ma_capacity(a.widths), "sum of block widths (needs k >= c log N, "
                  "c not encoded)", _hardt_ma_smallest, min_layers=1),
        R, "Theorem 3.2 and Lemma B.1 read in full text (survey §2.5): a block of k units re-targets k points; the "
        "constant in k = O(log n) is not encoded (we use k = ceil(log2 n) for 'smallest').",
        "hardt-ma", "Hardt & Ma, 'Identity Matters in Deep Learning', ICLR 2017, Thm 3.2; " + SURVEY + " §2.5",
        (Claim("ceil(n/k) blocks of k units, O(n log n + r^2) params", "survey §2.5 (full text)", C),
         Claim("k = O(log n) constant", "not encoded", U))),
    Theorem(
        "vardi2022", "Vardi, Yehudai & Shamir 2022: O~(sqrt(N)) parameters, width 12",
        "Width-12 ReLU networks of depth O~(sqrt(N)) memorize N separated points with labels in [C]; O~(sqrt(N)) "
        "bits per weight are needed. Coded depth: the survey's estimate 3*sqrt(N)*ceil(log2(100N^2)) + 5*sqrt(N).",
        r"\tilde O(\sqrt N)\ \text{params, width } 12",
        Condition(lambda a: bounds.vardi_capacity_of_depth(a.depth, min(a.widths)),
                  "largest N with depth estimate <= len(widths), all widths >= 12", _vardi_smallest, min_layers=1),
        U, "The O~(sqrt(N)) parameter count, its optimality up to logs (by the VC bounds) and the need for large "
        "bit complexity are confirmed by the authors' ICLR 2022 abstract (confirmations.md); the width 12, the "
        "coded depth formula (the survey's estimate) and the log factors are not in the abstract: UNCONFIRMED.",
        "vardi", "Vardi, Yehudai, Shamir, ICLR 2022 (abstract: shared/reference/confirmations.md); " + SURVEY
        + " §1 #11, §4",
        (Claim("O~(sqrt(N)) parameters suffice under mild separation, optimal up to logs; large bit complexity "
               "necessary and sufficient for sub-linear parameter counts", "ICLR 2022 abstract (confirmations.md)",
               C),
         Claim("width 12", "survey §1 #11 (not in the abstract)", U),
         Claim("explicit depth count and log factors", "UNCONFIRMED (survey estimate)", U))),
    Theorem(
        "vc-bartlett2019", "VC upper bound O(W L log W) (Bartlett, Harvey, Liaw, Mehrabian 2019)",
        "A piecewise-linear network with W parameters and L layers has VC dimension O(W L log W); memorization "
        "capacity <= VC dimension, so N points need W L log W = Omega(N). Coded threshold uses constant 1 "
        "(illustrative, not a certificate).",
        r"\mathrm{cap} \le \mathrm{VCdim} = O(W L \log W)",
        Condition(lambda a: bounds.vc_threshold(a.widths, a.dx, a.dy), "W*L*log2(W) (constant 1, illustrative)",
                  None, negative=True, min_layers=1, needs_dx=True, certified=False),
        U, "O(W L log W) (and a matching Omega(W L log(W/L)) example) is confirmed by the authors' JMLR abstract "
        "(confirmations.md) and cited in Yun et al.'s abstract [P]; capacity <= VC dimension is [P]. The explicit "
        "constant is in neither abstract, so the numeric threshold is UNCONFIRMED and never used as a proof.",
        None, "Bartlett, Harvey, Liaw, Mehrabian, JMLR 20(63), 2019 (abstract: shared/reference/confirmations.md); "
        + DIGEST + " §1, §2 #4",
        (Claim("VC dimension O(W L log W), examples with Omega(W L log(W/L))", "JMLR abstract (confirmations.md)", C),
         Claim("capacity <= VC dimension", "[P]", C),
         Claim("explicit constant", "UNCONFIRMED", U))),
    Theorem(
        "cover1965", "Cover 1965: function counting for a linear threshold unit",
        "A linear threshold unit with bias in R^dx realizes every dichotomy of N points in general position iff "
        "N <= dx + 1; it realizes C(N, dx+1) = 2*sum_{k<=dx} binom(N-1, k) of them, half at N = 2(dx + 1).",
        r"C(N,d) = 2\sum_{k=0}^{d-1}\binom{N-1}{k}",
        Condition(lambda a: a.dx + 1, "dx + 1 (all dichotomies; Cover's capacity 2(dx+1) for half)",
                  lambda n, a: dataclasses.replace(a, widths=(), dx=max(n - 1, 1)), layers=0, needs_dx=True),
        U, "Classical; only mentioned (as the basis of Baum's counting argument) in the survey §2.1, not read for "
        "this project, so the formula is stated from standard knowledge (UNCONFIRMED by our tagging rules).",
        None, "Cover, IEEE Trans. Electronic Computers EC-14(3):326-334, 1965; " + SURVEY + " §2.1",
        (Claim("function counting formula", "UNCONFIRMED (classical, not read here)", U),)),
]

_REGISTRY: dict[str, Theorem] = {t.name: t for t in _THEOREMS}


def get(name: str) -> Theorem:
    """The theorem registered under ``name``, or the theorem a construction of that name realizes
    (``get("yun3")`` is the ReLU theorem ``yun3-relu``); CapacityError listing the names otherwise."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    realized = [t for t in _REGISTRY.values() if t.construction == name]
    if realized:
        return realized[0]  # registration order: the ReLU statement before its hard-tanh variant
    raise CapacityError(f"unknown theorem {name!r}; known: {', '.join(_REGISTRY)}, or a construction name "
                        f"({', '.join(sorted({t.construction for t in _REGISTRY.values() if t.construction}))}) "
                        "(run 'capacity theorems')")


def names() -> list[str]:
    return list(_REGISTRY)


def all_theorems() -> list[Theorem]:
    return list(_THEOREMS)
