"""Theorem registry: names, provenance vs the digest, conditions at their boundaries, `capacity check`."""

import itertools
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capacity.errors import CapacityError, WidthError
from theory import bounds
from theory.registry import Architecture, all_theorems, get, names

NAMES = ["yun3-relu", "yun3-hardtanh", "yun-classify", "yun-deep", "yun-resnet", "yun-necessity-3layer",
         "yun-necessity-2layer", "yun-sgd", "zhang2017", "baum1988", "bubeck2020", "hardt-ma2017", "vardi2022",
         "vc-bartlett2019", "cover1965"]

# Overall provenance per theorem, from yun2019-digest.md §2/§13 and constructions-survey.md.
PROVENANCE = {
    "yun3-relu": "reconstructed",  # d1 d2 >= 4 N dy [S1]; floor form UNCONFIRMED typography; RECON exact
    "yun3-hardtanh": "UNCONFIRMED",  # §13.3
    "yun-classify": "reconstructed",  # [S1] d1 d2 >= 4N, d3 >= 4p; form UNCONFIRMED §13.4
    "yun-deep": "UNCONFIRMED",  # §13.6
    "yun-resnet": "UNCONFIRMED",  # §13.7
    "yun-necessity-3layer": "confirmed",  # [S1, S2]
    "yun-necessity-2layer": "confirmed",  # [S1]
    "yun-sgd": "UNCONFIRMED",  # §13.8
    "zhang2017": "confirmed", "baum1988": "confirmed", "bubeck2020": "reconstructed",
    "hardt-ma2017": "reconstructed", "vardi2022": "UNCONFIRMED", "vc-bartlett2019": "UNCONFIRMED",
    "cover1965": "UNCONFIRMED",
}
CONSTRUCTIONS = {"yun3-relu": "yun3", "yun3-hardtanh": "yun3", "yun-classify": "yun-classify", "yun-deep": "yun-deep",
                 "yun-resnet": "yun-resnet", "zhang2017": "zhang", "baum1988": "baum", "bubeck2020": "bubeck",
                 "hardt-ma2017": "hardt-ma", "vardi2022": "vardi"}


def claims(name, provenance):
    return [c for c in get(name).claims if c.provenance == provenance]


def test_names_provenance_and_constructions():
    assert names() == NAMES
    for t in all_theorems():
        assert t.provenance == PROVENANCE[t.name], t.name
        assert t.construction == CONSTRUCTIONS.get(t.name), t.name
        assert t.reason and t.source and t.statement_latex and t.claims
        # every reason cites a digest tag or the survey
        assert any(tag in t.reason for tag in ("[P]", "[A]", "[R]", "[S", "RECON", "UNCONFIRMED", "survey")), t.name
        # UNCONFIRMED overall <=> some claim is UNCONFIRMED and none of the coded formula is confirmed exactly
        if t.provenance != "confirmed":
            assert claims(t.name, "UNCONFIRMED"), t.name
    with pytest.raises(CapacityError, match="unknown theorem 'nope'"):
        get("nope")


def test_digest_specific_entries():
    # 3-layer: the scaling is [S1], the exact floor form is UNCONFIRMED typography
    conf = claims("yun3-relu", "confirmed")
    assert any("[S1]" in c.tags and "4*N*dy" in c.text for c in conf)
    assert any("[A]" in c.tags for c in conf)
    assert any("floor" in c.text for c in claims("yun3-relu", "UNCONFIRMED"))
    # hard-tanh: only existence is [S2]
    assert [c.tags for c in claims("yun3-hardtanh", "confirmed")] == ["[S2]"]
    # necessity: two secondary sources; the dataset is UNCONFIRMED
    c3 = claims("yun-necessity-3layer", "confirmed")
    assert "[S1]" in c3[0].tags and "[S2]" in c3[0].tags
    assert any("dataset" in c.text for c in claims("yun-necessity-3layer", "UNCONFIRMED"))
    assert claims("yun-necessity-2layer", "confirmed")[0].tags == "[S1]"
    # SGD: qualitative [P]/[R], every quantitative part UNCONFIRMED, no width condition
    sgd = get("yun-sgd")
    assert sgd.condition is None
    assert any("[P]" in c.tags for c in claims("yun-sgd", "confirmed"))
    q = claims("yun-sgd", "UNCONFIRMED")
    assert q and all(w in q[0].text for w in ("step size", "radius", "rate", "exponent"))
    # deep: W = Omega(N) is [P]; exact split UNCONFIRMED
    assert any("[P]" in c.tags and "Omega(N)" in c.text for c in claims("yun-deep", "confirmed"))
    assert any("width split" in c.text for c in claims("yun-deep", "UNCONFIRMED"))


def cap(name, widths, **kw):
    return get(name).condition(Architecture(tuple(widths), **kw))


def test_conditions_at_their_boundaries():
    c = get("yun3-relu").condition
    assert c.holds(Architecture((40, 40)), 400) and not c.holds(Architecture((40, 40)), 401)
    assert cap("yun3-relu", (39, 40)) == 360 and cap("yun3-relu", (36, 36), dy=3) == 108
    assert cap("yun3-hardtanh", (20, 20)) == 400 and cap("yun3-hardtanh", (19, 20)) == 360
    assert cap("yun-classify", (40, 40, 40), dy=10) == 400 and cap("yun-classify", (40, 40, 39), dy=10) == 0
    n3 = get("yun-necessity-3layer").condition
    assert n3(Architecture((4, 4))) == 38
    assert n3.holds(Architecture((4, 4)), 39) and not n3.holds(Architecture((4, 4)), 38)
    n2 = get("yun-necessity-2layer").condition
    assert n2.holds(Architecture((5,)), 8) and not n2.holds(Architecture((5,)), 7)
    assert cap("zhang2017", (17,)) == 17 and cap("baum1988", (10,), dx=5) == 50
    assert cap("bubeck2020", (40,), dx=5) == 50 and cap("bubeck2020", (39,), dx=5) == 45
    assert cap("cover1965", (), dx=3) == 4
    assert not get("vc-bartlett2019").condition.certified
    with pytest.raises(WidthError, match="exactly 2"):
        cap("yun3-relu", (40,))
    with pytest.raises(WidthError, match="dx"):
        cap("bubeck2020", (40,))


@given(n=st.integers(1, 3000), dy=st.integers(1, 4))
def test_smallest_is_sufficient_and_minimal(n, dy):
    for name in ("yun3-relu", "yun3-hardtanh"):
        c = get(name).condition
        s = c.smallest(n, Architecture((1, 1), dy=dy))
        assert c(s) >= n
        unit = 4 if name == "yun3-relu" else 2
        d1, d2 = s.widths
        assert d1 == unit or c(Architecture((d1 - unit, d2), dy=dy)) < n
        assert d2 == unit * dy or c(Architecture((d1, d2 - unit * dy), dy=dy)) < n
    s = get("yun-classify").condition.smallest(n, Architecture((1, 1, 1), dy=dy))
    assert get("yun-classify").condition(s) >= n and s.widths[2] == 4 * dy


@pytest.mark.parametrize("n", [1, 2, 5, 38, 39, 40, 100, 137])
def test_necessity_escape_widths_is_minimal(n):
    d1, d2 = bounds.necessity_escape_widths(n)
    assert bounds.necessity_threshold_3layer(d1, d2) >= n
    best = min(a + b for a in range(1, n + 2) for b in range(1, n + 2) if bounds.necessity_threshold_3layer(a, b) >= n)
    assert d1 + d2 == best


def worst_chunks(n, dx, dy):
    """Brute force: max over class splits of sum ceil(n_k/dx)."""
    return max(sum(math.ceil(k / dx) for k in split)
               for split in itertools.product(range(n + 1), repeat=dy) if sum(split) == n)


@pytest.mark.parametrize("dx,dy", [(1, 1), (2, 2), (3, 2), (2, 3), (4, 1)])
def test_resnet_capacity_matches_worst_case_split(dx, dy):
    for chunks in range(0, 7):
        want = max(n for n in range(0, 3 * 7 * dx) if worst_chunks(n, dx, dy) <= chunks)
        assert bounds.resnet_capacity([3] * chunks, dx, dy) == want, (dx, dy, chunks)
    for n in range(1, 30):
        b = bounds.resnet_smallest_blocks(n, dx, dy)
        assert bounds.resnet_capacity([3] * b, dx, dy) >= n > bounds.resnet_capacity([3] * (b - 1), dx, dy)


def test_cover_count_identities():
    for d in range(1, 6):
        for n in range(1, d + 1):
            assert bounds.cover_count(n, d) == 2 ** n  # all dichotomies
        assert bounds.cover_count(2 * d, d) == 2 ** (2 * d - 1)  # half at the capacity 2d
    assert all(bounds.cover_count(n, 2) == 2 * n for n in range(1, 20))  # threshold with bias on a line


def test_deep_capacity_is_the_one_closed_form():
    c = get("yun-deep").condition
    assert c(Architecture((20, 20, 20))) == bounds.deep_capacity([20, 20, 20], 1) > 0
    w = c.smallest(bounds.deep_capacity([20, 20, 20], 1), Architecture((1, 1, 1))).widths
    assert w == (20, 20, 20) or bounds.deep_capacity(list(w), 1) >= bounds.deep_capacity([20, 20, 20], 1)


# ------------------------------------------------------------------------------- CLI




def test_cli_theorems(run_cli):
    code, out, _ = run_cli("theorems")
    assert code == 0 and all(n in out for n in NAMES)
    code, out, _ = run_cli("theorems", "--json")
    recs = json.loads(out)["theorems"]
    assert [r["name"] for r in recs] == NAMES and {r["provenance"] for r in recs} <= set(PROVENANCE.values())


def test_cli_check_exit_codes_and_messages(run_cli):
    code, out, _ = run_cli("check", "--theorem", "yun3-relu", "--widths", "40,40", "--n", "400")
    assert code == 0 and "capacity = 400" in out and "HOLDS" in out and "40-40" in out
    code, out, _ = run_cli("check", "--theorem", "yun3-relu", "--widths", "40,40", "--n", "401")
    assert code == 1 and "does NOT hold" in out and "smallest architecture satisfying it for N = 401" in out
    code, out, _ = run_cli("check", "--theorem", "yun-necessity-3layer", "--widths", "4,4", "--n", "39", "--json")
    rec = json.loads(out)
    assert code == 0 and rec["value"] == 38 and rec["holds"] and rec["smallest"] == [4, 5]
    code, out, _ = run_cli("check", "--theorem", "yun-necessity-3layer", "--widths", "4,4", "--n", "38")
    assert code == 1 and "does not exclude" in out
    code, out, _ = run_cli("check", "--theorem", "yun-classify", "--widths", "40,40,40", "--n", "400", "--dy", "10")
    assert code == 0
    code, out, _ = run_cli("check", "--theorem", "vc-bartlett2019", "--widths", "2", "--n", "10000", "--dx", "1")
    assert code == 0 and "INDICATIVE ONLY" in out
    for argv, msg in [(("--theorem", "nope", "--widths", "4,4", "--n", "3"), "unknown theorem"),
                      (("--theorem", "yun3-relu", "--widths", "40", "--n", "3"), "exactly 2"),
                      (("--theorem", "bubeck2020", "--widths", "40", "--n", "3"), "--dx"),
                      (("--theorem", "yun-sgd", "--widths", "4", "--n", "3"), "no width condition")]:
        code, _, err = run_cli("check", *argv)
        assert code == 2 and msg in err and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as e:
        run_cli("check", "--theorem", "yun3-relu", "--widths", "4,x", "--n", "3")
    assert e.value.code == 2
