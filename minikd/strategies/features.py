"""The hidden-layer losses: FitNets hints, cosine hints and attention transfer on (N, H) representations.

Each compares a student representation ``S`` (N, d_s) with the teacher's ``T`` (N, d_t) of the same
batch (see :class:`~minikd.strategies.feature_base.FeatureDistillationStrategy`). The math is done in
float64 whatever the inputs' dtype (as the logit losses do); ``dS`` is returned in S's dtype.

==========================  ======================================================  ==============
strategy                    loss                                                    reduction
==========================  ======================================================  ==============
``HintLoss``                (S W + b - T)^2  (Romero et al. 2015)                   mean of N·d_t
``CosineHintLoss``          1 - cos(S_i, T_i)  (PyTorch KD tutorial)                mean of N
``AttentionTransferLoss``   (a(S) - a(T))^2, a(x) = |x|^p / || |x|^p ||_2           mean of N·H
                            (Zagoruyko & Komodakis 2017)
==========================  ======================================================  ==============
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_bool, check_int, check_seed, describe
from .feature_base import FeatureDistillationStrategy

__all__ = ["HintLoss", "CosineHintLoss", "AttentionTransferLoss"]


def _check_same_width(loss_name: str, d_s: int, d_t: int) -> None:
    if d_s != d_t:
        raise ValueError(f"{loss_name} compares S and T entry by entry, so the student width d_s must equal "
                         f"the teacher width d_t, got d_s = {d_s} and d_t = {d_t}")


def _unit_rows(x: np.ndarray):
    """``(x_hat, norm)``: each row of x divided by its L2 norm, and the norms (N,); a zero row gives 0, 0.

    The row is first divided by its largest |entry| (the result does not depend on a row's scale),
    so the squares can neither overflow nor underflow.
    """
    top = np.abs(x).max(axis=1)                       # (N,)
    u = x / np.where(top > 0, top, 1.0)[:, None]      # largest |entry| of a non-zero row: 1
    u_norm = np.sqrt((u * u).sum(axis=1))             # (N,), in [1, sqrt(H)] or 0
    x_hat = u / np.where(u_norm > 0, u_norm, 1.0)[:, None]
    return x_hat, top * u_norm


# ----------------------------------------------------------------------------- FitNets
class HintLoss(FeatureDistillationStrategy):
    r"""FitNets hint loss (Romero et al. 2015): a linear regressor from the student's layer to the teacher's.

    Parameters
    ----------
    student_layer, teacher_layer : int or "logits", default -1
        The representations compared (see :class:`FeatureDistillationStrategy`).
    regressor : bool, default True
        Learn ``r(S) = S @ W + b``. Without it, ``r(S) = S`` and d_s must equal d_t.
    seed : int >= 0, numpy.random.Generator or None, default None
        Seed of W's initialisation (``np.random.default_rng(seed)``; a Generator is used as it is).
    student_dim, teacher_dim : int >= 1 or None, default None
        The widths d_s and d_t, if known: with both (and ``regressor``) the regressor is built in the
        constructor, so ``params`` exists before the first call. Otherwise it is built on the first
        call, from the widths of S and T.

    Attributes
    ----------
    params : dict
        ``{"W": ndarray (d_s, d_t), "b": ndarray (d_t,)}``, float64, once the widths are known; ``{}``
        before, and always ``{}`` without a regressor. These arrays are the ones the loss reads at every
        call (writing into them changes the loss; an optimizer updates them in place).

    Notes
    -----
    **Loss.** With ``R = S W + b`` (N, d_t) and ``E = R - T``,

    .. math::  L = \frac{1}{N d_t} \sum_{i, j} E_{ij}^2,

    the mean over all N·d_t entries, as ``torch.nn.MSELoss()`` (reduction "mean") of
    ``nn.Linear(d_s, d_t)(S)`` and T. (``nn.Linear`` stores ``weight`` as (d_t, d_s): its weight is
    ``W.T``.) FitNets' paper writes ``1/2 ||u_h - r(v_g)||^2``; the mean is what PyTorch ports use.

    **Gradient.** ``dL/dE = G = 2 E / (N d_t)``. Since ``R = S W + b``:
    ``dL/dS = G W^T`` (N, d_t) @ (d_t, d_s), ``dL/dW = S^T G`` (d_s, N) @ (N, d_t), and
    ``dL/db = sum_i G_i`` (d_t,). Without the regressor ``dL/dS = G``. Each gradient carries the factor
    ``1/(N d_t)``: doubling the batch by repeating it leaves the loss unchanged and halves each row of dS.

    **Initialisation.** W ~ N(0, 1/d_s) entry-wise (variance 1/d_s: ``S @ W`` keeps the scale of a
    unit-variance S, LeCun's rule), drawn with ``rng.standard_normal((d_s, d_t)) / sqrt(d_s)``; b = 0.
    A later call with other widths is a ValueError, as is a call whose widths disagree with
    ``student_dim``/``teacher_dim``.

    **Config.** ``get_config()`` holds the constructor's arguments (the widths once known, and the seed
    when it is an int or None; a Generator is reported as None): :func:`strategy_from_config` rebuilds a
    regressor of the same shape, initialised again from the seed. The trained W and b are **not** in
    the config: they live in ``params`` (and in checkpoints, which store parameters).

    **Edge cases.** N = 1 and N = 2 are plain means over fewer entries; identical rows are fine; with
    ``W = I``, ``b = 0`` (or no regressor) and S == T the loss and every gradient are exactly 0.
    """

    def __init__(self, student_layer=-1, teacher_layer=-1, regressor=True, seed=None,
                 student_dim=None, teacher_dim=None):
        super().__init__(student_layer, teacher_layer)
        self.regressor = check_bool(regressor, "regressor")
        self.seed = check_seed(seed)
        self.student_dim = None if student_dim is None else check_int(student_dim, "student_dim", minimum=1)
        self.teacher_dim = None if teacher_dim is None else check_int(teacher_dim, "teacher_dim", minimum=1)
        if not self.regressor and None not in (self.student_dim, self.teacher_dim):
            _check_same_width("HintLoss without a regressor", self.student_dim, self.teacher_dim)
        if self.regressor and None not in (self.student_dim, self.teacher_dim):
            self._build_regressor(self.student_dim, self.teacher_dim)

    def _params(self) -> dict:
        seed = self.seed if not isinstance(self.seed, np.random.Generator) else None  # configs are plain data
        return {**super()._params(), "regressor": self.regressor, "seed": seed,
                "student_dim": self.student_dim, "teacher_dim": self.teacher_dim}

    def _build_regressor(self, d_s: int, d_t: int) -> None:
        rng = np.random.default_rng(self.seed)
        self.student_dim, self.teacher_dim = d_s, d_t
        self.params["W"] = rng.standard_normal((d_s, d_t)) / np.sqrt(d_s)  # N(0, 1/d_s)
        self.params["b"] = np.zeros(d_t)

    def _build_params(self, d_s: int, d_t: int) -> None:
        if self.regressor and "W" not in self.params:
            self._build_regressor(d_s, d_t)

    def _check_widths(self, d_s: int, d_t: int) -> None:
        if not self.regressor:
            _check_same_width("HintLoss without a regressor", d_s, d_t)
        if "W" in self.params:
            expected = tuple(self.params["W"].shape)
            what = "its regressor W has shape"
        else:
            expected = (self.student_dim or d_s, self.teacher_dim or d_t)
            what = "it was built for widths"
        if (d_s, d_t) != expected:
            raise ValueError(f"HintLoss: {what} (d_s, d_t) = {expected}, got S of width d_s = {d_s} and T of "
                             f"width d_t = {d_t}")

    def _compute(self, S, T, labels_kind, labels):
        n, d_t = T.shape
        if self.regressor and "W" not in self.params:
            self._build_regressor(S.shape[1], d_t)  # the first call: both widths are known now
        S64, T64 = S.astype(np.float64, copy=False), T.astype(np.float64, copy=False)
        if self.regressor:
            W, b = self.params["W"], self.params["b"]
            R = S64 @ W + b                           # (N, d_s) @ (d_s, d_t) -> (N, d_t)
        else:
            R = S64
        E = R - T64                                   # (N, d_t)
        loss = float((E * E).sum()) / (n * d_t)
        G = (2.0 / (n * d_t)) * E                     # dL/dR
        if self.regressor:
            dS = G @ W.T                              # (N, d_t) @ (d_t, d_s) -> (N, d_s)
            dparams = {"W": (S64.T @ G).astype(W.dtype, copy=False), "b": G.sum(axis=0).astype(b.dtype, copy=False)}
        else:
            dS, dparams = G, {}
        return loss, dS.astype(S.dtype, copy=False), {"soft": loss, "hard": None, "dparams": dparams}


# ----------------------------------------------------------------------------- cosine hints
class CosineHintLoss(FeatureDistillationStrategy):
    r"""The PyTorch KD tutorial's hidden-state loss: one minus the cosine of each student and teacher row.

    Parameters
    ----------
    student_layer, teacher_layer : int or "logits", default -1
        The representations compared; their widths must be equal (d_s == d_t == H).

    Notes
    -----
    **Loss.** ``L = (1/N) sum_i (1 - cos(S_i, T_i))`` with ``cos(x, y) = x.y / (|x| |y|)``: the mean over
    the N samples, as ``torch.nn.CosineEmbeddingLoss()(S, T, torch.ones(N))`` (the tutorial,
    pytorch/tutorials ``beginner_source/knowledge_distillation_tutorial.py``). ``L`` is in [0, 2],
    symmetric in S and T, and unchanged when a row of S or T is multiplied by a positive number.

    **Gradient.** With ``x = S_i``, ``x_hat = x/|x|`` and ``y_hat = T_i/|T_i|``:
    ``d|x|/dx = x_hat`` and ``d x_hat/dx = (I - x_hat x_hat^T)/|x|``, so
    ``d cos/dx = (I - x_hat x_hat^T) y_hat / |x| = (y_hat - cos x_hat) / |x|`` and

    .. math::  \frac{\partial L}{\partial S_i} = -\frac{1}{N} \frac{\hat y - \cos_i \hat x}{|S_i|}.

    It is orthogonal to S_i (the loss ignores the row's scale) and scales like ``1/|S_i|``.

    **Zero rows (no eps).** The cosine of a zero row is undefined; here a row of S or T that is exactly
    zero has ``cos = 0`` (that sample contributes 1 to the mean) and a **zero gradient**, and no eps
    enters any other row, so values are exact cosines at every scale. Norms are computed after dividing
    each row by its largest |entry|, so no square overflows or underflows. PyTorch's
    ``CosineEmbeddingLoss`` (ATen ``Loss.cpp``, ``EPSILON = 1e-12``; checked on torch 2.13) instead
    computes ``x.y / sqrt((|x|^2 + 1e-12)(|y|^2 + 1e-12))``, with the eps added to *each* squared norm:
    the same number to a relative ``1e-12 / |x|^2`` (1e-10 for rows of norm 0.1 and above), but for a
    zero student row its gradient is ``-y_hat / (N sqrt(1e-12)) = -1e6 y_hat / N``, the huge value this
    class avoids. Rows of tiny but non-zero norm get the true gradient, which is large (``~ 1/|S_i|``).

    **Edge cases.** N = 1: the loss is ``1 - cos(S_0, T_0)``. N = 2: the mean of two. Identical rows
    (S_i = c T_i, c > 0) give 0 and a gradient of rounding size (about 1e-16 / |S_i|), never NaN.
    Width 1: the cosine is the product of signs and the gradient is 0.
    """

    def _check_widths(self, d_s: int, d_t: int) -> None:
        _check_same_width("CosineHintLoss", d_s, d_t)

    def _compute(self, S, T, labels_kind, labels):
        n = S.shape[0]
        x_hat, x_norm = _unit_rows(S.astype(np.float64, copy=False))   # (N, H), (N,); zero row -> 0, 0
        y_hat, _ = _unit_rows(T.astype(np.float64, copy=False))
        cos = (x_hat * y_hat).sum(axis=1)                              # (N,); 0 where a row is zero
        loss = float((1.0 - cos).sum()) / n
        inv_norm = np.where(x_norm > 0, 1.0 / np.where(x_norm > 0, x_norm, 1.0), 0.0)  # 1/|S_i|, 0 for a zero row
        dS = -(y_hat - cos[:, None] * x_hat) * (inv_norm / n)[:, None]
        return loss, dS.astype(S.dtype, copy=False), {"soft": loss, "hard": None, "dparams": {}}


# ----------------------------------------------------------------------------- attention transfer
class AttentionTransferLoss(FeatureDistillationStrategy):
    r"""Attention transfer (Zagoruyko & Komodakis 2017) for vector representations.

    Parameters
    ----------
    p : float >= 1, default 2
        The power in the attention map ``|x|^p``.
    student_layer, teacher_layer : int or "logits", default -1
        The representations compared; their widths must be equal (d_s == d_t == H).

    Notes
    -----
    **Loss.** The attention of a row x (H,) is ``a(x) = q / |q|_2`` with ``q = |x|^p`` entry-wise, and

    .. math::  L = \frac{1}{N H} \sum_{i, j} \big(a(S_i)_j - a(T_i)_j\big)^2,

    the mean over all N·H entries. L is in [0, 2/H] (``|a - b|^2 = 2 - 2 a.b <= 2`` for non-negative
    unit vectors), symmetric in S and T, and unchanged by a positive factor on a row or a sign flip of
    an entry.

    **From feature maps to vectors.** The paper's map of an activation A (C, H, W) is
    ``sum_c |A_c|^p`` per spatial position, flattened and normalised to unit L2 norm; the loss compares
    the maps of student and teacher. Here a row has no channels: each of its H units is its own
    "position" (one channel). The authors' code (szagoruyko/attention-transfer, ``utils.py`` at
    893df54, ``at`` and ``at_loss``) computes ``F.normalize(x.pow(2).mean(1).view(N, -1))`` (p = 2 only,
    ``x.pow(p)`` rather than ``|x|^p``, a mean rather than a sum over channels, which the normalisation
    cancels; F.normalize's eps = 1e-12 on the norm) and ``(at(x) - at(y)).pow(2).mean()``, a mean over all
    N·HW entries. That reduction is the one used here: for x of shape (N, 1, H, 1) it gives exactly this
    loss at p = 2 (tested). The paper's formula sums the *unsquared* p-norms of the differences
    (``beta/2 sum_j ||Q_S/|Q_S| - Q_T/|Q_T| ||_p``); the code's ``cifar.py`` adds
    ``opt.beta * sum(at_losses)`` to the KD loss, with ``--beta 1e+3`` in its README's runs (here such a
    weight is the one given to this loss in a :class:`CompositeStrategy`).

    **Gradient.** For one row, with ``g = dL/da = 2 (a(S_i) - a(T_i)) / (N H)``:
    ``da/dq = (I - a a^T) / |q|`` (the Jacobian of normalisation), so ``dL/dq = (g - (a.g) a) / |q|``, and
    ``dq_j/dx_j = p |x_j|^(p-1) sign(x_j)``, hence

    .. math::  \frac{\partial L}{\partial x_j} = p\, |x_j|^{p-1} \operatorname{sign}(x_j)\,
               \frac{g_j - (a \cdot g)\, a_j}{|q|_2}.

    Rows are first divided by their largest |entry| (a(x) does not change; the gradient is divided by
    that factor), so ``|x|^p`` neither overflows nor underflows for any p.

    **Kinks and zero rows.** For p > 1, |x|^p is differentiable at 0 with derivative 0. For p = 1, |x|
    is not differentiable at 0: an entry exactly 0 gets the subgradient 0 (``sign(0) = 0``, as torch's
    ``abs`` backward). A row of S that is exactly zero has ``a = 0`` (not a unit vector: the map is
    undefined there) and contributes ``|a(T_i)|^2 / (N H) = 1/(N H)`` (0 if T_i is zero too), with a
    zero gradient; likewise a zero teacher row gives ``a(T_i) = 0``. No eps enters any other row.

    **Edge cases.** N = 1: the mean over H entries of one row. N = 2: over 2H. Identical rows
    (S_i = c T_i, c > 0, or S == T) give exactly 0 and an exactly zero gradient. Width 1: a(x) = 1 for
    every non-zero x, so the loss is 1/N times the number of rows where exactly one of S_i, T_i is 0,
    and the gradient is 0.
    """

    def __init__(self, p=2, student_layer=-1, teacher_layer=-1):
        super().__init__(student_layer, teacher_layer)
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
            raise TypeError(f"p must be a real number >= 1, got {describe(p)}")
        if not (np.isfinite(float(p)) and float(p) >= 1):
            raise ValueError(f"p must be a finite number >= 1, got {p!r}")
        self.p = float(p)

    def _params(self) -> dict:
        return {"p": self.p, **super()._params()}

    def _check_widths(self, d_s: int, d_t: int) -> None:
        _check_same_width("AttentionTransferLoss", d_s, d_t)

    def _attention(self, x: np.ndarray):
        """``(a, u, top, q_norm)``: the attention rows a (N, H), the rows u = x / top (top: largest
        |entry|, 1 for a zero row) and |q|_2 of q = |u|^p (0 for a zero row)."""
        top = np.abs(x).max(axis=1)
        top = np.where(top > 0, top, 1.0)             # a zero row stays zero
        u = x / top[:, None]                          # largest |entry| 1
        q = np.abs(u) ** self.p                       # (N, H)
        q_norm = np.sqrt((q * q).sum(axis=1))         # in [1, sqrt(H)], or 0 for a zero row
        a = q / np.where(q_norm > 0, q_norm, 1.0)[:, None]
        return a, u, top, q_norm

    def _compute(self, S, T, labels_kind, labels):
        n, h = S.shape
        a_s, u, top, q_norm = self._attention(S.astype(np.float64, copy=False))
        a_t, _, _, _ = self._attention(T.astype(np.float64, copy=False))
        diff = a_s - a_t                              # (N, H)
        loss = float((diff * diff).sum()) / (n * h)
        g = (2.0 / (n * h)) * diff                    # dL/da
        dq = (g - (a_s * g).sum(axis=1, keepdims=True) * a_s) / np.where(q_norm > 0, q_norm, 1.0)[:, None]
        du = self.p * np.abs(u) ** (self.p - 1) * np.sign(u) * dq   # sign(0) = 0: p = 1's subgradient at 0
        dS = du / top[:, None]                        # u = x / top
        return loss, dS.astype(S.dtype, copy=False), {"soft": loss, "hard": None, "dparams": {}}
