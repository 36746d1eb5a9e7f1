"""Level-1 ops of the loss family: one fused op per loss (math, weighting and reduction).

Conventions shared by every op here:

* ``reduction`` (static) is ``"none"``, ``"mean"`` or ``"sum"``; the wrappers in
  ``nn/_functional/loss.py`` have already mapped PyTorch's legacy ``size_average``/``reduce``.
* ``dtype`` (static) is the result dtype the wrapper computed with PyTorch's rules; half types
  compute in float32 (``opmath``) and round once at the end.
* Class-index targets that are out of range (and not ``ignore_index``) give NaN, where PyTorch's
  CPU kernel raises ``IndexError`` (a value check would need a host sync; NaN stays visible).
* Gradients come from autodiff, except where PyTorch's backward formula differs from the exact
  derivative (BCE's clamps, CTC's log-softmax-style gradient): those use ``jax.custom_vjp``.
  Piecewise losses use ``where`` on the same comparisons as PyTorch's kernels, so gradients at
  the kinks are PyTorch's one-sided ones.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from .._registry import op, opmath

_NEG_INF = -jnp.inf


def _reduce(loss, reduction):
    if reduction == "sum":
        return jnp.sum(loss)
    if reduction == "mean":
        return jnp.mean(loss)
    return loss


def _clamp_min0(x):
    # NOTE: PyTorch's clamp_min backward passes the gradient where x >= 0 (jnp.maximum splits ties).
    return jnp.where(x >= 0, x, jnp.zeros((), x.dtype))


def _finish(loss, reduction, dtype):
    return _reduce(loss, reduction).astype(dtype)


def _class_shape(ndim, class_dim, n):
    """Shape that broadcasts a per-class vector along ``class_dim`` of an ``ndim``-d array."""
    shape = [1] * ndim
    shape[class_dim] = n
    return tuple(shape)


# ------------------------------------------------------------------ classification (class index)
def _nll(logp, target, weight, class_dim, reduction, ignore_index, label_smoothing):
    """NLL of log-probabilities ``logp`` at class indices ``target`` (PyTorch's nll_loss_nd and
    cross_entropy_loss_label_smoothing, fused)."""
    n_classes = logp.shape[class_dim]
    if target.dtype != jnp.int64:
        target = target.astype(jnp.int32)  # NOTE: uint8 targets must not wrap ignore_index=-100
    valid = target != ignore_index
    in_range = (target >= 0) & (target < n_classes)
    safe = jnp.where(valid & in_range, target, 0).astype(jnp.int32)
    picked = jnp.squeeze(jnp.take_along_axis(logp, jnp.expand_dims(safe, class_dim), axis=class_dim), class_dim)
    w = jnp.ones((), logp.dtype) if weight is None else weight.astype(logp.dtype)[safe]
    w = jnp.where(valid, w, jnp.zeros((), logp.dtype))
    zero = jnp.zeros((), logp.dtype)
    loss = jnp.where(valid, -w * picked, zero)
    loss = jnp.where(valid & ~in_range, jnp.asarray(jnp.nan, logp.dtype), loss)  # out of range: NaN
    if label_smoothing > 0:
        wc = logp
        if weight is not None:
            wc = logp * weight.astype(logp.dtype).reshape(_class_shape(logp.ndim, class_dim, n_classes))
        smooth = jnp.where(valid, -jnp.sum(wc, axis=class_dim), zero)
        loss = (1 - label_smoothing) * loss + (label_smoothing / n_classes) * smooth
    if reduction == "none":
        return loss
    if reduction == "sum":
        return jnp.sum(loss)
    # NOTE: 'mean' divides by the summed weights of the non-ignored targets (NaN when none are left).
    return jnp.sum(loss) / jnp.sum(jnp.broadcast_to(w, loss.shape))


@op()
def nll_loss(x, target, weight, *, class_dim, reduction, ignore_index, dtype):
    """Negative log likelihood of log-probabilities ``x`` at class indices ``target``."""
    ct = opmath(dtype)
    return _nll(x.astype(ct), target, weight, class_dim, reduction, ignore_index, 0.0).astype(dtype)


@op()
def cross_entropy(x, target, weight, *, class_dim, reduction, ignore_index, label_smoothing, dtype):
    """log_softmax + NLL at class indices (+ label smoothing), one program."""
    ct = opmath(dtype)
    logp = jax.nn.log_softmax(x.astype(ct), axis=class_dim)
    return _nll(logp, target, weight, class_dim, reduction, ignore_index, label_smoothing).astype(dtype)


@op()
def cross_entropy_probs(x, target, weight, *, class_dim, reduction, label_smoothing, dtype):
    """Cross entropy against class probabilities (``target`` has the input's shape)."""
    ct = opmath(dtype)
    n_classes = x.shape[class_dim]
    logp = jax.nn.log_softmax(x.astype(ct), axis=class_dim)
    tgt = target.astype(ct)
    if label_smoothing > 0:
        tgt = tgt * (1 - label_smoothing) + label_smoothing / n_classes
    prod = logp * tgt
    if weight is not None:
        prod = prod * weight.astype(ct).reshape(_class_shape(x.ndim, class_dim, n_classes))
    if reduction == "none":
        return (-jnp.sum(prod, axis=class_dim)).astype(dtype)
    total = -jnp.sum(prod)
    if reduction == "mean":
        # NOTE: PyTorch divides by the number of samples (numel / C), not by the summed weights.
        count = x.size // n_classes if n_classes else 0
        total = total / count if count else jnp.full((), jnp.nan, ct)
    return total.astype(dtype)


# -------------------------------------------------------------------------------- regression
def _pointwise(x, y, weight, dtype, fn, reduction, weighted_mean):
    ct = opmath(dtype)
    loss = fn(x.astype(ct) - y.astype(ct))
    if weight is None:
        return _finish(loss, reduction, dtype)
    w = weight.astype(ct)
    loss = loss * w
    if reduction == "mean" and weighted_mean:
        return (jnp.sum(loss) / jnp.sum(jnp.broadcast_to(w, loss.shape))).astype(dtype)
    return _finish(loss, reduction, dtype)


def _abs(d):
    # NOTE: PyTorch's l1 backward is sign(d): 0 at d == 0 (jnp.abs gives 1 there).
    return d * jnp.sign(jax.lax.stop_gradient(d))


@op()
def mse_loss(x, y, weight, *, reduction, dtype):
    """Squared error; with ``weight``, 'mean' is sum(w * e) / sum(w) as PyTorch."""
    return _pointwise(x, y, weight, dtype, jnp.square, reduction, True)


@op()
def l1_loss(x, y, weight, *, reduction, dtype):
    """Absolute error; with ``weight``, 'mean' is sum(w * e) / sum(w) as PyTorch."""
    return _pointwise(x, y, weight, dtype, _abs, reduction, True)


@op()
def smooth_l1_loss(x, y, *, reduction, beta, dtype):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta."""
    def f(d):
        z = jnp.abs(d)
        return jnp.where(z < beta, 0.5 * d * d / beta, z - 0.5 * beta)

    return _pointwise(x, y, None, dtype, f, reduction, False)


@op()
def huber_loss(x, y, weight, *, reduction, delta, dtype):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta); weighted 'mean' is a plain mean."""
    def f(d):
        z = jnp.abs(d)
        return jnp.where(z < delta, 0.5 * d * d, delta * (z - 0.5 * delta))

    return _pointwise(x, y, weight, dtype, f, reduction, False)


# ------------------------------------------------------------------------------ binary / prob.
@jax.custom_vjp
def _bce(x, y, w):
    return w * ((y - 1) * jnp.maximum(jnp.log1p(-x), -100.0) - y * jnp.maximum(jnp.log(x), -100.0))


def _bce_fwd(x, y, w):
    return _bce(x, y, w), (x, y, w)


def _bce_bwd(res, g):
    # NOTE: PyTorch's formulas: d/dx = w (x - y) / max(x (1 - x), 1e-12), d/dy = -w logit(x).
    x, y, w = res
    gx = g * w * (x - y) / jnp.maximum((1 - x) * x, 1e-12)
    gy = -g * w * (jnp.log(x) - jnp.log1p(-x))
    gw = g * ((y - 1) * jnp.maximum(jnp.log1p(-x), -100.0) - y * jnp.maximum(jnp.log(x), -100.0))
    return gx, gy, gw


_bce.defvjp(_bce_fwd, _bce_bwd)


@op()
def binary_cross_entropy(x, y, weight, *, reduction, dtype):
    """-w (y log x + (1 - y) log(1 - x)), each log clamped to >= -100 as PyTorch."""
    ct = opmath(dtype)
    x = x.astype(ct)
    w = jnp.ones(x.shape, ct) if weight is None else jnp.broadcast_to(weight.astype(ct), x.shape)
    return _finish(_bce(x, y.astype(ct), w), reduction, dtype)


@op()
def binary_cross_entropy_with_logits(x, y, weight, pos_weight, *, reduction, dtype):
    """(1 - y) x - (1 + (pw - 1) y) log_sigmoid(x), times weight: stable for any logit."""
    ct = opmath(dtype)
    x, y = x.astype(ct), y.astype(ct)
    log_sig = jax.nn.log_sigmoid(x)
    if pos_weight is not None:
        log_sig = log_sig * ((pos_weight.astype(ct) - 1) * y + 1)
    loss = (1 - y) * x - log_sig
    if weight is not None:
        loss = loss * weight.astype(ct)
    return _finish(loss, reduction, dtype)


@op()
def kl_div(x, y, *, reduction, log_target, dtype):
    """Pointwise KL: y (log y - x), or exp(y) (y - x) with ``log_target``; 'batchmean' / size(0)."""
    ct = opmath(dtype)
    x, y = x.astype(ct), y.astype(ct)
    loss = jnp.exp(y) * (y - x) if log_target else jax.scipy.special.xlogy(y, y) - y * x
    if reduction == "batchmean":
        s = jnp.sum(loss)
        return (s / x.shape[0] if x.ndim else s).astype(dtype)
    return _finish(loss, reduction, dtype)


@op()
def poisson_nll_loss(x, y, *, log_input, full, eps, reduction, dtype):
    """exp(x) - y x (log_input) or x - y log(x + eps); ``full`` adds Stirling's term where y > 1."""
    ct = opmath(dtype)
    x, y = x.astype(ct), y.astype(ct)
    loss = jnp.exp(x) - y * x if log_input else x - y * jnp.log(x + eps)
    if full:
        stirling = y * jnp.log(y) - y + 0.5 * jnp.log(2 * math.pi * y)
        loss = loss + jnp.where(y <= 1, jnp.zeros((), ct), stirling)
    return _finish(loss, reduction, dtype)


@op()
def gaussian_nll_loss(x, y, var, *, unsqueeze_var, full, eps, reduction, dtype):
    """0.5 (log var + (x - y)^2 / var) with var clamped to >= eps outside autograd, as PyTorch."""
    ct = opmath(dtype)
    x, y = x.astype(ct), y.astype(ct)
    var = jnp.asarray(var).astype(ct)
    if unsqueeze_var:
        var = var[..., None]
    # NOTE: PyTorch clamps under no_grad: the gradient reaches var as if it were not clamped.
    var = var + jax.lax.stop_gradient(jnp.maximum(var, eps) - var)
    loss = 0.5 * (jnp.log(var) + (x - y) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _finish(loss, reduction, dtype)


# ------------------------------------------------------------------------------ margin / ranking
@op()
def margin_ranking_loss(x1, x2, y, *, margin, reduction, dtype):
    """max(0, -y (x1 - x2) + margin)."""
    ct = opmath(dtype)
    loss = _clamp_min0(-y.astype(ct) * (x1.astype(ct) - x2.astype(ct)) + margin)
    return _finish(loss, reduction, dtype)


@op()
def hinge_embedding_loss(x, y, *, margin, reduction, dtype):
    """x where y == 1, max(0, margin - x) where y == -1 (both terms where y is neither)."""
    ct = opmath(dtype)
    x = x.astype(ct)
    zero = jnp.zeros((), ct)
    loss = jnp.where(y != 1, _clamp_min0(margin - x), zero) + jnp.where(y != -1, x, zero)
    return _finish(loss, reduction, dtype)


@op()
def soft_margin_loss(x, y, *, reduction, dtype):
    """log(1 + exp(-y x))."""
    ct = opmath(dtype)
    return _finish(jnp.log1p(jnp.exp(-y.astype(ct) * x.astype(ct))), reduction, dtype)


@op()
def multilabel_soft_margin_loss(x, y, weight, *, reduction, dtype):
    """-(y log_sigmoid(x) + (1 - y) log_sigmoid(-x)) (times weight), averaged over classes."""
    ct = opmath(dtype)
    x, y = x.astype(ct), y.astype(ct)
    loss = -(y * jax.nn.log_sigmoid(x) + (1 - y) * jax.nn.log_sigmoid(-x))
    if weight is not None:
        loss = loss * weight.astype(ct)
    loss = jnp.sum(loss, axis=-1) / x.shape[-1]
    return _finish(loss, reduction, dtype)


@op()
def cosine_embedding_loss(x1, x2, y, *, margin, reduction, dtype):
    """1 - cos(x1, x2) where y == 1, max(0, cos - margin) where y == -1."""
    ct = opmath(dtype)
    x1, x2 = x1.astype(ct), x2.astype(ct)
    axis = y.ndim  # 1 for batched (N, D) inputs, 0 for unbatched (D,)
    prod = jnp.sum(x1 * x2, axis=axis)
    denom = jnp.sqrt((jnp.sum(x1 * x1, axis=axis) + 1e-12) * (jnp.sum(x2 * x2, axis=axis) + 1e-12))
    cos = prod / denom
    zero = jnp.zeros((), ct)
    loss = jnp.where(y == 1, 1 - cos, zero) + jnp.where(y == -1, _clamp_min0(cos - margin), zero)
    return _finish(loss, reduction, dtype)


@op()
def multi_margin_loss(x, target, weight, *, p, margin, reduction, dtype):
    """sum over i != y of max(0, margin - x[y] + x[i])^p (times weight[y]) / C."""
    ct = opmath(dtype)
    x2 = x.astype(ct).reshape((-1, x.shape[-1]) if x.ndim else (1, 1))  # (N, C)
    t = target.reshape(-1).astype(jnp.int32)
    n_classes = x2.shape[1]
    in_range = (t >= 0) & (t < n_classes)
    safe = jnp.where(in_range, t, 0)
    x_y = jnp.take_along_axis(x2, safe[:, None], axis=1)  # (N, 1)
    z = margin - x_y + x2
    h = jnp.where(z > 0, z if p == 1 else z * z, jnp.zeros((), ct))
    h = jnp.where(jnp.arange(n_classes)[None, :] == safe[:, None], jnp.zeros((), ct), h)
    if weight is not None:
        h = h * weight.astype(ct)[safe][:, None]
    loss = jnp.sum(h, axis=1) / n_classes
    loss = jnp.where(in_range, loss, jnp.asarray(jnp.nan, ct))
    if x.ndim <= 1:
        loss = loss.reshape(target.shape)
    return _finish(loss, reduction, dtype)


@op()
def multilabel_margin_loss(x, target, *, reduction, dtype):
    """sum over target classes j and non-target classes i of max(0, 1 - (x[j] - x[i])) / C."""
    ct = opmath(dtype)
    n_classes = x.shape[-1] if x.ndim else 1
    x2 = x.astype(ct).reshape((-1, n_classes))  # (N, C)
    t = target.reshape((-1, n_classes)).astype(jnp.int32)
    # Targets are the entries before the first -1 (PyTorch's convention).
    valid = jnp.cumprod((t >= 0).astype(jnp.int32), axis=1).astype(bool)
    safe = jnp.where(valid, t, 0)
    is_target = jnp.any(valid[:, :, None] & (safe[:, :, None] == jnp.arange(n_classes)), axis=1)  # (N, C)
    x_t = jnp.take_along_axis(x2, safe, axis=1)  # (N, K)
    z = 1 - x_t[:, :, None] + x2[:, None, :]  # (N, K, C)
    pair = valid[:, :, None] & ~is_target[:, None, :] & (z > 0)
    loss = jnp.sum(jnp.where(pair, z, jnp.zeros((), ct)), axis=(1, 2)) / n_classes
    if x.ndim <= 1:
        loss = loss.reshape(())
    return _finish(loss, reduction, dtype)


def _pnorm(d, p):
    """PyTorch's vector p-norm over the last axis, with its zero gradient where the norm is 0."""
    if p == 1:
        return jnp.sum(_abs(d), axis=-1)
    if p == math.inf:
        return jnp.max(jnp.abs(d), axis=-1)
    if p == 0:
        return jnp.sum((d != 0).astype(d.dtype), axis=-1)
    s = jnp.sum(d * d if p == 2 else jnp.abs(d) ** p, axis=-1)
    pos = s > 0
    safe = jnp.where(pos, s, 1)  # NOTE: double where: no NaN gradient at a zero norm
    return jnp.where(pos, jnp.sqrt(safe) if p == 2 else safe ** (1.0 / p), 0)


@op()
def triplet_margin_loss(a, pos, neg, *, margin, p, eps, swap, reduction, dtype):
    """max(0, margin + d(a, pos) - d(a, neg)), d = pairwise_distance(p, eps); optional swap."""
    ct = opmath(dtype)
    a, pos, neg = a.astype(ct), pos.astype(ct), neg.astype(ct)
    d_pos = _pnorm(a - pos + eps, p)
    d_neg = _pnorm(a - neg + eps, p)
    if swap:
        d_neg = jnp.minimum(d_neg, _pnorm(pos - neg + eps, p))
    return _finish(_clamp_min0(margin + d_pos - d_neg), reduction, dtype)


# ------------------------------------------------------------------------------------------ CTC
def _lse3(a, b, c):
    # PyTorch's CTC logsumexp of three terms (a max of -inf is replaced by 0).
    m = jnp.maximum(jnp.maximum(a, b), c)
    m = jnp.where(m == _NEG_INF, 0.0, m)
    return jnp.log(jnp.exp(a - m) + jnp.exp(b - m) + jnp.exp(c - m)) + m


def _shift(x, k):
    """x[..., s - k] along the last axis, -inf shifted in."""
    if k >= x.shape[-1]:
        return jnp.full(x.shape, _NEG_INF, x.dtype)
    pad = jnp.full(x.shape[:-1] + (k,), _NEG_INF, x.dtype)
    return jnp.concatenate([pad, x[..., :-k]], axis=-1)


def _unshift(x, k, fill=_NEG_INF):
    """x[..., s + k] along the last axis, ``fill`` shifted in."""
    if k >= x.shape[-1]:
        return jnp.full(x.shape, fill, x.dtype)
    pad = jnp.full(x.shape[:-1] + (k,), fill, x.dtype)
    return jnp.concatenate([x[..., k:], pad], axis=-1)


def _ctc_setup(lp, targets, blank):
    """Extended labels l' (blank, t1, blank, t2, ..., blank), lp at them, and skip masks."""
    n, s = targets.shape
    ext = jnp.full((n, 2 * s + 1), blank, jnp.int32).at[:, 1::2].set(targets.astype(jnp.int32))
    lp_ext = jnp.take_along_axis(lp, jnp.broadcast_to(ext[None], (lp.shape[0],) + ext.shape), axis=2)  # (T, N, S')
    # skip s-2 -> s allowed when l'(s) != l'(s-2) (never for blanks, which repeat)
    skip = jnp.zeros(ext.shape, bool).at[:, 2:].set(ext[:, 2:] != ext[:, :-2])
    return ext, lp_ext, skip


def _ctc_scan(lp_ext, skip, input_lengths, target_lengths, with_beta):
    """log alpha (T, N, S') and, ``with_beta``, log beta, both from ONE lax.scan over time.

    alpha runs forward from a virtual state before t=0 (log 1 at s=0); beta runs backward from
    t = input_length - 1 (where only the last blank and the last label may end a path).
    """
    t_max, n, sp = lp_ext.shape
    a0 = jnp.full((n, sp), _NEG_INF, lp_ext.dtype).at[:, 0].set(0.0)

    def alpha_step(prev, lp_t):
        return _lse3(prev, _shift(prev, 1), jnp.where(skip, _shift(prev, 2), _NEG_INF)) + lp_t

    if not with_beta:
        _, la = jax.lax.scan(lambda c, lp_t: (alpha_step(c, lp_t),) * 2, a0, lp_ext)
        return la, None
    s_idx = jnp.arange(sp)[None, :]
    end = 2 * target_lengths[:, None]
    end_mask = (s_idx == end) | ((s_idx == end - 1) & (target_lengths[:, None] > 0))
    skip_next = _unshift(skip, 2, False)  # may go s -> s+2 when l'(s+2) != l'(s)
    il = input_lengths[:, None]

    def beta_step(nxt, lp_t, t):
        rec = _lse3(nxt, _unshift(nxt, 1), jnp.where(skip_next, _unshift(nxt, 2), _NEG_INF)) + lp_t
        start = jnp.where(end_mask, lp_t, _NEG_INF)
        return jnp.where(t == il - 1, start, jnp.where(t < il - 1, rec, _NEG_INF))

    def step(carry, xs):
        a, b = carry
        lp_a, lp_b, t_b = xs
        a, b = alpha_step(a, lp_a), beta_step(b, lp_b, t_b)
        return (a, b), (a, b)

    b0 = jnp.full((n, sp), _NEG_INF, lp_ext.dtype)
    ts = jnp.arange(t_max)[::-1]
    _, (la, lb_rev) = jax.lax.scan(step, (a0, b0), (lp_ext, lp_ext[::-1], ts))
    return la, lb_rev[::-1]


def _ctc_forward(lp, targets, input_lengths, target_lengths, blank, with_beta):
    ext, lp_ext, skip = _ctc_setup(lp, targets, blank)
    la, lb = _ctc_scan(lp_ext, skip, input_lengths, target_lengths, with_beta)
    last = jnp.take_along_axis(la, jnp.clip(input_lengths - 1, 0)[None, :, None], axis=0)[0]  # (N, S')
    l1 = jnp.take_along_axis(last, (2 * target_lengths)[:, None], axis=1)[:, 0]
    l2 = jnp.take_along_axis(last, jnp.clip(2 * target_lengths - 1, 0)[:, None], axis=1)[:, 0]
    l2 = jnp.where(target_lengths > 0, l2, _NEG_INF)
    m = jnp.maximum(l1, l2)
    m = jnp.where(m == _NEG_INF, 0.0, m)
    nll = -(jnp.log(jnp.exp(l1 - m) + jnp.exp(l2 - m)) + m)
    nll = jnp.where(input_lengths > 0, nll, jnp.inf)  # no frames: PyTorch gives inf
    return nll, (ext, lp_ext, la, lb)


def _make_ctc_nll(blank, zero_infinity):
    @jax.custom_vjp
    def ctc_nll(lp, targets, input_lengths, target_lengths):
        return _ctc_forward(lp, targets, input_lengths, target_lengths, blank, False)[0]

    def fwd(lp, targets, input_lengths, target_lengths):
        nll, res = _ctc_forward(lp, targets, input_lengths, target_lengths, blank, True)
        return nll, (lp, input_lengths, nll, res)

    def bwd(saved, g):
        # NOTE: PyTorch's CTC backward is exp(lp) - occupancy, i.e. the gradient with respect to the
        # logits of a log_softmax (not the exact derivative in lp); we return the same numbers.
        lp, input_lengths, nll, (ext, lp_ext, la, lb) = saved
        t_max, n, c = lp.shape
        gamma = jnp.exp(la + lb - lp_ext + nll[None, :, None])  # (T, N, S') state occupancy
        flat = (jnp.arange(n)[:, None] * c + ext).reshape(-1)  # (N*S',) positions in a (N*C) row
        occ = jnp.zeros((t_max, n * c), lp.dtype).at[:, flat].add(gamma.reshape(t_max, -1)).reshape(t_max, n, c)
        occ = occ + jnp.where(jnp.isfinite(nll), 0.0, jnp.nan)[None, :, None]  # impossible: NaN as PyTorch
        grad = (jnp.exp(lp) - occ) * g[None, :, None]
        keep = jnp.arange(t_max)[:, None] < input_lengths[None, :]  # (T, N)
        if zero_infinity:
            keep = keep & (nll != jnp.inf)[None, :]
        grad = jnp.where(keep[:, :, None], grad, 0.0)
        return grad, None, None, None

    ctc_nll.defvjp(fwd, bwd)
    return ctc_nll


@op()
def ctc_loss(log_probs, targets, input_lengths, target_lengths, *, blank, reduction, zero_infinity, concatenated,
             unbatched, dtype):
    """Connectionist temporal classification loss (forward algorithm in log space, lax.scan).

    ``log_probs`` (T, N, C) (or (T, C) ``unbatched``); ``targets`` padded (N, S) or, with
    ``concatenated``, 1-D; lengths (N,).
    """
    ct = opmath(dtype)
    lp = log_probs.astype(ct)
    il = input_lengths.astype(jnp.int32).reshape(-1)
    tl = target_lengths.astype(jnp.int32).reshape(-1)
    if unbatched:
        lp, targets = lp[:, None], targets.reshape(1, -1)
    elif concatenated:
        # Gather the 1-D targets into a padded (N, total) array: row n starts at its offset.
        total = targets.shape[0]
        offsets = jnp.cumsum(tl) - tl
        idx = jnp.clip(offsets[:, None] + jnp.arange(max(total, 1))[None, :], 0, max(total - 1, 0))
        targets = targets[idx] if total else jnp.zeros((tl.shape[0], 0), targets.dtype)
    nll = _make_ctc_nll(blank, zero_infinity)(lp, targets.astype(jnp.int32), il, tl)
    if zero_infinity:
        nll = jnp.where(nll == jnp.inf, jnp.zeros((), ct), nll)
    if reduction == "mean":
        return jnp.mean(nll / jnp.maximum(tl, 1).astype(ct)).astype(dtype)
    if unbatched and reduction == "none":
        nll = nll[0]
    return _finish(nll, reduction, dtype)
