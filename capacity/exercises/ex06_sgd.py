"""Exercise 6: gradient descent near a memorizing minimum: the linearized prediction against simulation."""

from __future__ import annotations

import functools

import numpy as np

from capacity.exercises._core import Check, CheckFailed, Exercise, load_source, need, tally

EPS = float(np.finfo(np.float64).eps)
N_POINTS, DX, STEPS = 6, 2, 40

STATEMENT = r"""
# Exercise 6: GD near a memorizing minimum, linearized

**Theorem** (`yun-sgd`, qualitative; Yun, Sra & Jadbabaie 2019).  Started near a memorizing
global minimum $\theta^*$, (stochastic) gradient descent quickly reaches a nearby point of much
smaller empirical risk.  Everything quantitative is ours: we *predict* the risk with the
linearized model and compare with simulation.

**Setting.** Squared loss $R(\theta) = \frac1N\sum_i (f_\theta(x_i) - y_i)^2$, full-batch GD
$\theta_{t+1} = \theta_t - \eta\nabla R(\theta_t)$, $\theta^*$ a memorizer ($R(\theta^*) = 0$,
no pre-activation at a kink), $\theta_0 = \theta^* + \rho\Delta$.  While the activation pattern
does not change, linearize at $\theta^*$: with the Jacobian $J$ ($N\times P$) and the kernel
$K = J J^\top$, the residual $e_t = f_{\theta_t}(X) - y$ obeys

$$ e_{t+1} = \Big(I - \tfrac{2\eta}{N} K\Big) e_t, \qquad
   R_t = \frac1N \Big\| \Big(I - \tfrac{2\eta}{N} K\Big)^t e_0 \Big\|^2 . $$

Its error is $O(\rho)$ relative to $R_0$ as long as the pattern holds.

**Tasks** (NumPy / JAX in float64; use `capacity.networks.mlp_apply(kernels, biases, x)`):

1. `residuals(kernels, biases, x, y)`: the vector $e = f(x) - y$, shape $(N,)$.
2. `ntk(kernels, biases, x)`: $K = J J^\top$ at these weights ($J$ with respect to every kernel
   and bias entry; the order of parameters does not matter for $K$).
3. `predicted_risk(K, e0, lr, steps)`: $R_t$ for $t = 0, \dots, $ `steps` (length `steps + 1`).
4. `simulate_gd(kernels, biases, x, y, lr, steps)`: the measured $R(\theta_t)$, $t = 0..$`steps`.

The checker builds $\theta^*$ with Zhang et al.'s construction on fresh data, perturbs it, and
compares your four functions with its own, with tolerances derived from float64's
$\varepsilon$ and the problem size.
"""

STUB = '''"""Exercise 6: linearized GD near a memorizing minimum.  Fill in the four functions."""
import jax
import jax.numpy as jnp
import numpy as np

from capacity.networks import mlp_apply


def residuals(kernels, biases, x, y):
    raise NotImplementedError("residuals")


def ntk(kernels, biases, x):
    """K = J J^T, J the Jacobian of the N outputs with respect to all weights and biases."""
    raise NotImplementedError("ntk")


def predicted_risk(K, e0, lr, steps):
    """R_t = ||(I - (2 lr / N) K)^t e0||^2 / N for t = 0..steps."""
    raise NotImplementedError("predicted_risk")


def simulate_gd(kernels, biases, x, y, lr, steps):
    """Risks R(theta_t), t = 0..steps, of full-batch GD on R = mean (f - y)^2."""
    raise NotImplementedError("simulate_gd")
'''

SOLUTION = '''"""Exercise 6, reference solution."""
import jax
import jax.numpy as jnp
import numpy as np

from capacity.networks import mlp_apply


def residuals(kernels, biases, x, y):
    return np.asarray(mlp_apply(kernels, biases, jnp.asarray(x))[:, 0]) - np.asarray(y).reshape(-1)


def ntk(kernels, biases, x):
    params = (list(map(jnp.asarray, kernels)), list(map(jnp.asarray, biases)))
    jac = jax.jacrev(lambda p: mlp_apply(p[0], p[1], jnp.asarray(x))[:, 0])(params)
    rows = jnp.concatenate([j.reshape(j.shape[0], -1) for j in jax.tree.leaves(jac)], axis=1)
    return np.asarray(rows @ rows.T)


def predicted_risk(K, e0, lr, steps):
    n = len(e0)
    lam, vec = np.linalg.eigh(K)
    coef = vec.T @ e0
    t = np.arange(steps + 1)[:, None]
    factor = (1.0 - 2.0 * lr * lam / n)[None, :] ** (2 * t)
    return factor @ (coef ** 2) / n


def simulate_gd(kernels, biases, x, y, lr, steps):
    x, y = jnp.asarray(x), jnp.asarray(y).reshape(-1)

    def risk(p):
        return jnp.mean((mlp_apply(p[0], p[1], x)[:, 0] - y) ** 2)

    step = jax.jit(lambda p: jax.tree.map(lambda a, g: a - lr * g, p, jax.grad(risk)(p)))
    p = (list(map(jnp.asarray, kernels)), list(map(jnp.asarray, biases)))
    out = [float(risk(p))]
    for _ in range(steps):
        p = step(p)
        out.append(float(risk(p)))
    return np.array(out)
'''

HINTS = (
    "residuals: mlp_apply(kernels, biases, x)[:, 0] - y.  ntk: jax.jacrev of the N outputs with respect to the "
    "(kernels, biases) pytree; flatten every leaf to (N, -1), concatenate, and multiply by its transpose.",
    "predicted_risk: diagonalize K = V diag(lam) V^T; the coefficient c = V^T e0 is multiplied by "
    "(1 - 2 lr lam / N) at every step, and the risk is sum(c^2 (1 - 2 lr lam / N)^(2t)) / N.",
    "simulate_gd: R is the MEAN of squared residuals (not the sum, not half of it); each step subtracts "
    "lr * grad R.  Record R before the first step too (length steps + 1).",
)


@functools.lru_cache(maxsize=None)
def _reference():
    return load_source(SOLUTION, "ex06_reference")


@functools.lru_cache(maxsize=8)
def problem(seed: int, rho_rel: float = 1e-4):
    """(theta* kernels, biases), perturbed (kernels, biases), x, y, lr: Zhang's memorizer on fresh data."""
    from capacity.constructions import build
    from capacity.data import make_dataset

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N_POINTS, DX))
    y = rng.uniform(-1, 1, N_POINTS)
    con = build("zhang", make_dataset(x, y), [N_POINTS])
    ks, bs = [np.asarray(k) for k in con.kernels], [np.asarray(b) for b in con.biases]
    theta = np.concatenate([a.ravel() for a in ks + bs])
    delta = rng.standard_normal(theta.size)
    delta *= rho_rel * np.linalg.norm(theta) / np.linalg.norm(delta)
    pk, pb, i = [], [], 0
    for a in ks:
        pk.append(a + delta[i:i + a.size].reshape(a.shape)); i += a.size
    for a in bs:
        pb.append(a + delta[i:i + a.size].reshape(a.shape)); i += a.size
    K = _reference().ntk(ks, bs, x)
    lr = 0.5 * N_POINTS / float(np.linalg.eigvalsh(K)[-1])  # factor 1 - 2 lr lam / N in [0, 1)
    return ks, bs, pk, pb, x, y, lr


@functools.lru_cache(maxsize=8)
def reference_simulation(seed: int, rho_rel: float = 1e-4):
    ks, bs, pk, pb, x, y, lr = problem(seed, rho_rel)
    return _reference().simulate_gd(pk, pb, x, y, lr, STEPS)


def _close(got, exp, scale, k: float, what: str):
    """|got - exp| <= k * eps * scale, elementwise; the message names the first bad entry."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != np.shape(exp):
        raise CheckFailed(f"{what}: shape {got.shape}, expected {np.shape(exp)}")
    tol = k * EPS * scale
    bad = np.flatnonzero(~(np.abs(got - exp) <= tol))
    if bad.size:
        i = int(bad[0])
        return False, (f"{what}: entry {i} is {got.ravel()[i]:.10g}, expected {np.ravel(exp)[i]:.10g} "
                       f"(tolerance {np.ravel(np.broadcast_to(tol, np.shape(exp)))[i]:.2g})")
    return True, ""


def check_residuals(module):
    f = need(module, "residuals")
    items = []
    for seed in (6101, 6102):
        ks, bs, pk, pb, x, y, _ = problem(seed)
        exp = _reference().residuals(pk, pb, x, y)
        scale = np.max(np.abs(np.asarray(pk[1]))) * np.max(np.abs(x @ pk[0])) * N_POINTS + 1.0
        items.append(_close(f(pk, pb, x, y), exp, scale, 8 * N_POINTS, f"residual at the perturbed point (data seed {seed})"))
    return tally(items)


def check_ntk(module):
    f = need(module, "ntk")
    items = []
    for seed in (6201, 6202):
        ks, bs, *_rest = problem(seed)
        x = _rest[2]
        exp = _reference().ntk(ks, bs, x)
        items.append(_close(f(ks, bs, x), exp, np.max(np.abs(exp)), 16 * N_POINTS * DX,
                            f"K = J J^T at theta* (data seed {seed})"))
    return tally(items)


def check_prediction(module):
    f = need(module, "predicted_risk")
    rng = np.random.default_rng(6301)
    items = []
    for trial in range(4):
        n = 5 + trial
        a = rng.standard_normal((n, n))
        K = a @ a.T
        e0 = rng.standard_normal(n)
        lr = 0.5 * n / float(np.linalg.eigvalsh(K)[-1])
        exp = _reference().predicted_risk(K, e0, lr, 30)
        # eigen-decomposition vs matrix powers: both backward stable; error ~ steps * n * eps * R_0
        items.append(_close(f(K, e0, lr, 30), exp, exp[0], 64 * 30 * n, f"predicted risk, random K of size {n} (seed 6301, trial {trial})"))
    return tally(items)


def check_simulation(module):
    f = need(module, "simulate_gd")
    items = []
    for seed in (6401,):
        ks, bs, pk, pb, x, y, lr = problem(seed)
        exp = reference_simulation(seed)
        got = f(pk, pb, x, y, lr, STEPS)
        # rounding in the gradient step is amplified by at most the (non-expansive) GD map; 1e3 eps of R_0 per step
        items.append(_close(got, exp, exp[0] + 1e-300, 1e3 * STEPS, f"simulated risk (data seed {seed})"))
    return tally(items)


def check_linearization(module):
    """Your prediction (K, e0 and the formula all yours) against the simulated risk: agreement to O(rho)."""
    pred_f, ntk_f, res_f = need(module, "predicted_risk"), need(module, "ntk"), need(module, "residuals")
    items = []
    for seed, rho in ((6401, 1e-4), (6402, 1e-5)):
        ks, bs, pk, pb, x, y, lr = problem(seed, rho)
        sim = reference_simulation(seed, rho)
        pred = np.asarray(pred_f(ntk_f(ks, bs, x), res_f(pk, pb, x, y), lr, STEPS), dtype=np.float64)
        if pred.shape != sim.shape:
            raise CheckFailed(f"predicted_risk returned shape {pred.shape}; expected ({STEPS + 1},)")
        # deviation of the linear model: relative O(rho); allow 10 rho (measured: about 0.05 rho)
        dev = np.max(np.abs(pred - sim)) / sim[0]
        items.append((dev <= 10 * rho, f"rho = {rho:g} (data seed {seed}): max_t |R_pred - R_sim| / R_0 = {dev:.3g}, "
                                       f"more than 10 rho = {10 * rho:.1g}"))
    return tally(items)


def check_hidden_larger_steps(module):
    f = need(module, "predicted_risk")
    rng = np.random.default_rng(9901)
    a = rng.standard_normal((12, 12))
    K = a @ a.T + np.eye(12)
    e0 = rng.standard_normal(12)
    lr = 0.9 * 12 / float(np.linalg.eigvalsh(K)[-1])
    exp = _reference().predicted_risk(K, e0, lr, 200)
    return tally([_close(f(K, e0, lr, 200), exp, exp[0], 64 * 200 * 12, "predicted risk, 200 steps")])


EXERCISE = Exercise(
    id="06-sgd", number=6, title="GD near a memorizing minimum: linearized prediction vs simulation",
    topic="optimization", difficulty="medium", minutes=60, theorem="yun-sgd",
    statement=STATEMENT, stub=STUB, solution=SOLUTION, hints=HINTS,
    checks=(
        Check("residuals e = f(x) - y", 1, check_residuals, "use mlp_apply and subtract the labels; shape (N,)."),
        Check("kernel K = J J^T", 2, check_ntk, "Jacobian of all N outputs with respect to every weight and bias."),
        Check("linearized risk R_t", 3, check_prediction,
              "each step multiplies the eigen-coefficients by 1 - 2 lr lam / N; the risk squares them."),
        Check("simulated GD risk", 2, check_simulation, "R is the mean of the squared residuals; record t = 0 too."),
        Check("prediction agrees with simulation to O(rho)", 2, check_linearization,
              "K at theta*, e0 at the perturbed start, the same lr and steps."),
        Check("long horizon", 1, check_hidden_larger_steps, "stable for many steps.", public=False),
    ),
    wrong_answers={
        "missing factor 2 (loss taken as half the mean)": ("(1.0 - 2.0 * lr * lam / n)", "(1.0 - lr * lam / n)"),
        "coefficients not squared over time (power t, not 2t)": ("** (2 * t)", "** t"),
        "sum instead of mean in the simulated loss": ("return jnp.mean((mlp_apply", "return jnp.sum((mlp_apply"),
    },
    functions=("residuals", "ntk", "predicted_risk", "simulate_gd"),
)
