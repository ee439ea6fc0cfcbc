r"""Relational losses: compare how a batch's samples relate to each other, not the samples themselves.

==============================  =================================================  ==============
strategy                        loss on S (N, d_s) and T (N, d_t)                  min batch
==============================  =================================================  ==============
``RKDLoss``                     w_D * Huber(D_S/mu_S, D_T/mu_T) + w_A * Huber(     3 (2 without
                                angles)   (Park et al. 2019)                       angles)
``SimilarityPreservingLoss``    ||G_T - G_S||_F^2 / N^2, G = row-normalised S S^T  1
                                (Tung & Mori 2019)
``PKTLoss``                     mean_ij Q_ij log((Q_ij + eps) / (P_ij + eps)),     1
                                P, Q from cosine kernels (Passalis & Tefas 2018)
==============================  =================================================  ==============

Because only relations between samples are compared, d_s and d_t may differ.

Zero vectors (the convention of DESIGN.md, "Details that numbers depend on")
----------------------------------------------------------------------------
Distances and cosines are computed from difference vectors ``x_j - x_i`` (not from the expansion
``|x|^2 + |y|^2 - 2 x.y``), so identical rows are exactly 0 apart. Normalising a zero vector gives
the zero vector, and the gradient through a zero vector (a zero difference, a zero row, a zero row
of a Gram matrix) is **0** (0 is in the subdifferential of ``|.|`` at 0; these are the points where
the functions are not differentiable). The reference code's guards keep its loss finite but not
always its gradient: ``F.normalize(v, eps=1e-12)`` passes the gradient through a zero ``v`` scaled by
1e12, and ``sqrt(clamp(d2, min=1e-12))`` puts identical rows 1e-6 apart (see :class:`RKDLoss`).
Everything is computed in float64; the gradient is returned in S's dtype.

Reference code read for these conventions (public repositories):
``lenscloth/RKD`` ``metric/loss.py`` and ``metric/utils.py`` (``RkdDistance``, ``RKdAngle``, ``pdist``);
``HobbitLong/RepDistiller`` ``distiller_zoo/SP.py`` (``Similarity``) and ``distiller_zoo/PKT.py``
(``PKT``, "code from author"), the same function as ``passalis/probabilistic_kt`` ``nn/pkt.py``
(``cosine_similarity_loss``). Each class says where it differs.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_nonnegative_float
from .feature_base import FeatureDistillationStrategy

__all__ = ["RKDLoss", "SimilarityPreservingLoss", "PKTLoss"]


# ----------------------------------------------------------------------------- small math helpers
def _unit(x: np.ndarray):
    """``(x / |x|, |x|)`` along the last axis, with 0 for zero vectors (no eps, no NaN)."""
    norm = np.sqrt((x * x).sum(axis=-1))  # (...,)
    safe = np.where(norm > 0, norm, 1.0)
    return x / safe[..., None], norm


def _unit_backward(dout: np.ndarray, u: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Gradient through ``u = x / |x|``: ``(dout - (dout . u) u) / |x|``, and 0 where ``x = 0``.

    (``du_a/dx_b = (delta_ab - u_a u_b) / |x|``: the projection orthogonal to u, divided by |x|.)
    """
    safe = np.where(norm > 0, norm, 1.0)
    radial = (dout * u).sum(axis=-1, keepdims=True)
    return np.where((norm > 0)[..., None], (dout - radial * u) / safe[..., None], 0.0)


def _huber(r: np.ndarray):
    """``smooth_l1`` with delta = 1, elementwise, and its derivative ``clip(r, -1, 1)``."""
    a = np.abs(r)
    return np.where(a < 1.0, 0.5 * r * r, a - 0.5), np.clip(r, -1.0, 1.0)


# ----------------------------------------------------------------------------- RKD
class RKDLoss(FeatureDistillationStrategy):
    r"""Relational knowledge distillation: distance and angle terms (Park et al. 2019, "RKD-DA").

    Parameters
    ----------
    distance_weight : float >= 0, default 25.0
        w_D, weight of the distance term (the paper's and the reference code's 25).
    angle_weight : float >= 0, default 50.0
        w_A, weight of the angle term (50). With 0 the angle term is not computed.
    student_layer, teacher_layer : int or "logits", default "logits"
        The representations compared (the paper applies RKD to final embeddings).

    Notes
    -----
    **Loss.** For one embedding X (rows x_i, shape (N, d)): differences ``e_ij = x_j - x_i``,
    distances ``D_ij = |e_ij|`` (``D_ii = 0``), their mean over the N(N-1) pairs i != j
    ``mu = sum_{i != j} D_ij / (N (N - 1))`` and ``Dh = D / mu``; unit differences
    ``u_ij = e_ij / |e_ij|`` (0 when ``e_ij = 0``) and cosines ``A_ijk = u_ij . u_ik`` (the angle at
    vertex i; 0 whenever j = i or k = i, 1 when j = k != i). With h the Huber function (delta = 1:
    ``h(r) = r^2 / 2`` for ``|r| < 1``, ``|r| - 1/2`` otherwise; ``h'(r) = clip(r, -1, 1)``)

    .. math::

        L = w_D \frac{1}{N^2} \sum_{i,j} h(Dh^S_{ij} - Dh^T_{ij})
          + w_A \frac{1}{N^3} \sum_{i,j,k} h(A^S_{ijk} - A^T_{ijk}).

    Reductions as the reference code's ``F.smooth_l1_loss`` (mean over all N^2 and N^3 entries,
    the zero diagonal and the degenerate triplets included). If ``mu_S = 0`` or ``mu_T = 0`` (every
    row of that embedding identical) the distance term and its gradient are 0: the normalised
    distances 0/0 are undefined, so the term carries no information.

    **Gradient of the distance term** (with respect to the student's X; T is constant). Let
    ``r = Dh^S - Dh^T`` and ``g_ij = w_D h'(r_ij) / N^2 = dL/dDh_ij``. Since ``Dh_ij = D_ij / mu`` and
    mu depends on every off-diagonal D_kl with ``dmu/dD_kl = 1 / (N (N - 1))``,

    .. math::

        \frac{\partial L}{\partial D_{kl}} = \frac{g_{kl}}{\mu}
            - \frac{\sum_{ij} g_{ij} D_{ij}}{\mu^2 N (N-1)} \quad (k \ne l), \qquad
        \frac{\partial L}{\partial D_{kk}} := 0,

    the second part being the chain through the mean. Call this matrix G (symmetric, as g is).
    ``D_kl = |x_l - x_k|`` gives ``dD_kl/dx_k = -u_kl`` and ``dD_kl/dx_l = u_kl``; summing both
    orientations, ``dL/dx_k = -2 sum_l G_kl u_kl``. A zero difference (``x_k = x_l``, k != l) is a
    kink of ``|.|``; its ``u_kl = 0`` contributes nothing (0 is in the subdifferential of ``|.|`` at 0).

    **Gradient of the angle term.** ``a_ijk = w_A h'(A^S_ijk - A^T_ijk) / N^3``, symmetric in j, k.
    ``A_ijk = u_ij . u_ik`` gives ``dL/du_ij = sum_k (a_ijk + a_ikj) u_ik = 2 sum_k a_ijk u_ik =: V_ij``
    (a batched matmul, (N, N, N) @ (N, N, d)). Through the normalisation ``u = e / |e|``:
    ``dL/de_ij = (V_ij - (V_ij . u_ij) u_ij) / |e_ij|`` (0 when ``e_ij = 0``). Finally
    ``e_ij = x_j - x_i``: ``dL/dx_m = sum_i dL/de_im - sum_j dL/de_mj``.

    **Small batches and duplicates.** N = 1 is refused (``min_batch_size``: 3 when
    ``angle_weight > 0``, else 2; the angle term of two samples is a constant). At N = 2 the distance
    term is identically 0 (one distance divided by its own mean is 1 for both models), so RKD needs
    N >= 3 to carry information. Duplicated rows are exactly 0 apart: no NaN, no huge gradient. There
    the distance term has a kink and the angle term a jump (u jumps from 0 to a unit vector as the
    rows separate), so the returned gradient is a finite one-sided choice, exact for perturbations
    that keep the duplicates together (tests/test_relational_losses.py checks both).

    **Memory and time.** The angle term holds (N, N, d) differences and several (N, N, N) float64
    arrays (A_S, A_T, the Huber values and slopes, temporaries), 134 MB each at N = 256: measured peak
    1.0 GB and about 5-9 s for N = 256, d = 32 on our 2-core machine; O(N^3 + N^2 d) memory, O(N^3 d)
    time. Fine up to N = 256; larger batches would need the triplets in blocks.

    **Where it differs from the reference code** (``lenscloth/RKD``, ``metric/loss.py``; RepDistiller's
    ``distiller_zoo/RKD.py`` is the same code). ``pdist(e, squared=False, eps=1e-12)`` computes
    ``sqrt(clamp(|x_i|^2 + |x_j|^2 - 2 x_i.x_j, min=1e-12))``: identical rows come out 1e-6 apart (and
    count in the mean ``d[d > 0].mean()``), rows closer than 1e-6 all look 1e-6 apart with a zero
    gradient (the clamp's), and the expansion loses ``~1e-16 |x|^2 / D^2`` relative to cancellation.
    ``RKdAngle`` uses ``F.normalize(..., eps=1e-12)``, which divides a zero difference by the constant
    1e-12: the value is the same 0, but the gradient through it is ``dL/du_ij * 1e12``. For the
    diagonal (j = i) ``dL/du_ii = 0`` and nothing happens; for two duplicated student rows facing a
    teacher whose rows differ, ``dL/du_ij != 0`` and the reference's gradient is of order 1e12 (tests
    show it), where minikd's is 0 through that difference. On rows that are far apart the numbers
    agree to rounding (the tests compare to 1e-8). The reference code computes the teacher's relations
    under ``torch.no_grad()``, as here (only dL/dS is returned).
    """

    def __init__(self, distance_weight: float = 25.0, angle_weight: float = 50.0,
                 student_layer="logits", teacher_layer="logits"):
        super().__init__(student_layer, teacher_layer)
        self.distance_weight = check_nonnegative_float(distance_weight, "distance_weight")
        self.angle_weight = check_nonnegative_float(angle_weight, "angle_weight")

    @property
    def min_batch_size(self) -> int:
        """3 with an angle term (a triplet has an angle), 2 without (a pair has a distance)."""
        return 3 if self.angle_weight > 0 else 2

    def _params(self) -> dict:
        return {"distance_weight": self.distance_weight, "angle_weight": self.angle_weight,
                **super()._params()}

    def _compute(self, S, T, labels_kind, labels):
        X, Y = S.astype(np.float64, copy=False), T.astype(np.float64, copy=False)
        dist, d_dist = self._distance_term(X, Y) if self.distance_weight > 0 else (0.0, 0.0)
        ang, d_ang = self._angle_term(X, Y) if self.angle_weight > 0 else (0.0, 0.0)
        loss = float(self.distance_weight * dist + self.angle_weight * ang)
        dS = self.distance_weight * d_dist + self.angle_weight * d_ang + np.zeros_like(X)
        return loss, dS.astype(S.dtype, copy=False), {"soft": loss, "hard": None, "dparams": {},
                                                       "distance": dist, "angle": ang}

    @staticmethod
    def _distances(X):
        """Unit differences u_ij = unit(x_j - x_i) (N, N, d), distances D (N, N) and their mean over i != j."""
        n = X.shape[0]
        u, D = _unit(X[None, :, :] - X[:, None, :])  # e_ij = x_j - x_i: (N, N, d); D: (N, N)
        return u, D, D.sum() / (n * (n - 1))

    def _distance_term(self, X, Y):
        """L_D (unweighted) and dL_D/dX."""
        n = X.shape[0]
        u, D_s, mu_s = self._distances(X)
        _, D_t, mu_t = self._distances(Y)
        if mu_s == 0 or mu_t == 0:  # all rows identical: normalised distances undefined, no term
            return 0.0, np.zeros_like(X)
        h, dh = _huber(D_s / mu_s - D_t / mu_t)  # (N, N)
        g = dh / n**2  # dL_D / dDh
        G = g / mu_s - (g * D_s).sum() / (mu_s**2 * n * (n - 1))  # dL_D / dD_kl, the mean's chain included
        np.fill_diagonal(G, 0.0)  # D_kk = 0 is no function of X
        dX = -2.0 * np.einsum("kl,kld->kd", G, u)  # dD_kl/dx_k = -u_kl, and both orientations
        return float(h.sum()) / n**2, dX

    def _angle_term(self, X, Y):
        """L_A (unweighted) and dL_A/dX."""
        n = X.shape[0]
        u_s, n_s = _unit(X[None, :, :] - X[:, None, :])  # u_ij = unit(x_j - x_i): (N, N, d)
        u_t, _ = _unit(Y[None, :, :] - Y[:, None, :])
        A_s = u_s @ u_s.transpose(0, 2, 1)  # (N, N, d) @ (N, d, N) -> (N, N, N): A_ijk = u_ij . u_ik
        A_t = u_t @ u_t.transpose(0, 2, 1)
        h, dh = _huber(A_s - A_t)  # (N, N, N)
        V = 2.0 * (dh / n**3) @ u_s  # dL_A / du_ij: (N, N, N) @ (N, N, d) -> (N, N, d)
        dE = _unit_backward(V, u_s, n_s)  # dL_A / de_ij: (N, N, d)
        dX = dE.sum(axis=0) - dE.sum(axis=1)  # e_ij = x_j - x_i
        return float(h.sum()) / n**3, dX


# ----------------------------------------------------------------------------- similarity preserving
class SimilarityPreservingLoss(FeatureDistillationStrategy):
    r"""Similarity-preserving distillation (Tung & Mori 2019): match the row-normalised Gram matrices.

    Parameters
    ----------
    student_layer, teacher_layer : int or "logits", default -1

    Notes
    -----
    **Loss.** ``Gt = S S^T`` (N, N), and G its rows scaled to unit L2 norm,
    ``G_i = Gt_i / |Gt_i|`` (a zero row, which only a zero row of S gives, stays 0); the same for T:

    .. math::  L = \frac{1}{N^2} \| G_T - G_S \|_F^2 .

    It is the **rows of the Gram matrix** that are normalised, as in the paper (eq. 1–2) and the
    reference code, not the rows of S. So L is invariant to rotating the feature space (``S Q`` with
    Q orthogonal leaves ``S S^T`` unchanged) and to scaling S (or T) by one positive factor, but
    **not** to scaling its rows by different factors: ``diag(c) S`` gives ``Gt_i = c_i (S S^T diag(c))_i``;
    the row's own factor c_i cancels, the column factors c_j do not.

    **Gradient.** ``A = dL/dG_S = 2 (G_S - G_T) / N^2``. Through the row normalisation
    ``B_i = dL/dGt_i = (A_i - (A_i . G_i) G_i) / |Gt_i|`` (0 for a zero row). Through
    ``Gt = S S^T``: ``dL/dS = (B + B^T) S``.

    **Small batches, zero rows.** N = 1 is refused (``min_batch_size`` 2): one sample has no relation to
    another (``G = [[1]]`` for a nonzero row on both sides: L = 0, dS = 0, nothing learned), so the trainer
    merges a last batch of one into the batch before it. Identical rows are no special case (G is smooth in
    S away from zero rows). Zero rows: no NaN, and the gradient through their normalisation is 0.

    **Reference code** (``HobbitLong/RepDistiller``, ``distiller_zoo/SP.py``, ``Similarity``:
    ``G_s = torch.nn.functional.normalize(f_s @ f_s.T)``, loss ``(G_diff * G_diff).sum() / (bsz * bsz)``):
    the same formula and reduction. ``F.normalize`` divides by ``max(|Gt_i|, 1e-12)``, which differs
    from ``|Gt_i|`` only where ``|Gt_i| < 1e-12`` (tiny rows of S, ``|s_i|^2 <= |Gt_i|``); the numbers
    agree to rounding otherwise (tests compare to 1e-10).
    """

    min_batch_size = 2  # a relation needs two samples

    def _compute(self, S, T, labels_kind, labels):
        X, Y = S.astype(np.float64, copy=False), T.astype(np.float64, copy=False)
        n = X.shape[0]
        G_s, norm_s = _unit(X @ X.T)  # (N, d) @ (d, N) -> (N, N), rows normalised
        G_t, _ = _unit(Y @ Y.T)
        diff = G_s - G_t
        loss = float((diff * diff).sum()) / n**2
        B = _unit_backward(2.0 * diff / n**2, G_s, norm_s)  # dL / d(S S^T): (N, N)
        dS = (B + B.T) @ X  # (N, N) @ (N, d) -> (N, d)
        return loss, dS.astype(S.dtype, copy=False), {"soft": loss, "hard": None, "dparams": {}}


# ----------------------------------------------------------------------------- PKT
class PKTLoss(FeatureDistillationStrategy):
    r"""Probabilistic knowledge transfer (Passalis & Tefas 2018): KL between cosine-kernel neighbourhoods.

    Parameters
    ----------
    eps : float >= 0, default 1e-7
        Added to both probabilities inside the log, as in the reference code (0 is allowed; then two
        antipodal student rows facing a teacher that relates them give an infinite loss, a ValueError).
    student_layer, teacher_layer : int or "logits", default -1

    Notes
    -----
    **Loss.** Rows scaled to unit norm, ``xh_i = x_i / |x_i|`` (a zero row stays 0); cosine kernel
    ``K = (Xh Xh^T + 1) / 2`` (entries in [0, 1], ``K_ii = 1`` for a nonzero row); conditional
    probabilities ``P_ij = K_ij / s_i`` with ``s_i = sum_k K_ik`` (>= 1/2 · N > 0, so never 0/0);
    P from S, Q from T:

    .. math::  L = \frac{1}{N^2} \sum_{i,j} Q_{ij} \log \frac{Q_{ij} + \epsilon}{P_{ij} + \epsilon}

    (``torch.mean`` over all N^2 entries, as the reference code; terms with Q_ij = 0 are 0).

    **Normalisation by |x|, not |x| + eps.** DESIGN.md allows either; minikd divides by ``|x|``. Then
    each row is exactly a unit vector, L is exactly invariant to scaling the rows of S or T by
    positive factors (the reference's ``|x| + eps`` is not, by O(eps / |x|)), and the gradient through
    a zero row is 0, where ``x / (|x| + eps)`` has derivative ``1 / eps = 1e7``. The reference code's
    ``output_net[output_net != output_net] = 0`` (NaN to 0) never fires with eps > 0; a zero row
    gives the zero vector in both.

    **Gradient.** ``W = dL/dP = -Q / (N^2 (P + eps))``. Through the row normalisation
    ``P_ij = K_ij / s_i``: ``dL/dK_ij = (W_ij - sum_l W_il P_il) / s_i``. ``K = (C + 1) / 2`` with
    ``C = Xh Xh^T``: ``dL/dC = dL/dK / 2`` and ``dL/dXh = (dL/dC + dL/dC^T) Xh``. Through the row
    normalisation of X: ``dL/dx_i = (y_i - (y_i . xh_i) xh_i) / |x_i|`` (0 for a zero row),
    ``y = dL/dXh``.

    **Sign and S == T.** With eps = 0, L is a mean of KL divergences: >= 0, and 0 with zero gradient
    when P = Q. With eps > 0 the minimum moves by O(eps): L can be negative by about
    ``eps^2 (sum_j 1/Q_ij - N^2) / (2 N^2)`` (1e-14 for ordinary Q), and at S == T the loss is
    exactly 0 but not its gradient: there ``dL/dK_ij = eps (1/(Q_ij + eps) - sum_l Q_il/(Q_il + eps)) /
    (N^2 s_i)``, of order eps, not 0 (tests check both bounds).

    **Small batches.** N = 1 is refused (``min_batch_size`` 2): one sample has no relation to another
    (P = Q = [[1]], L = 0, dS = 0), so the trainer merges a last batch of one into the batch before it.
    Identical rows are no special case; zero rows give no NaN.

    **Reference code**: ``HobbitLong/RepDistiller``, ``distiller_zoo/PKT.py``,
    ``PKT.cosine_similarity_loss(output_net, target_net, eps=0.0000001)``, the same function as the
    authors' ``passalis/probabilistic_kt`` ``nn/pkt.py``: same kernel, row sums and reduction; rows normalised by
    ``|x| + eps``. On rows of norm about 1 the two agree to about 1e-6 relative (tests: 1e-5).
    """

    min_batch_size = 2  # a relation needs two samples

    def __init__(self, eps: float = 1e-7, student_layer=-1, teacher_layer=-1):
        super().__init__(student_layer, teacher_layer)
        self.eps = check_nonnegative_float(eps, "eps")

    def _params(self) -> dict:
        return {"eps": self.eps, **super()._params()}

    @staticmethod
    def _probabilities(X):
        """Unit rows Xh (N, d), their norms (N,), P (N, N) and the row sums s (N,)."""
        Xh, norm = _unit(X)
        K = (Xh @ Xh.T + 1.0) / 2.0  # (N, d) @ (d, N) -> (N, N), in [0, 1]
        s = K.sum(axis=1)  # (N,)
        return Xh, norm, K / s[:, None], s

    def _compute(self, S, T, labels_kind, labels):
        X, Y = S.astype(np.float64, copy=False), T.astype(np.float64, copy=False)
        n, eps = X.shape[0], self.eps
        Xh, norm, P, s = self._probabilities(X)
        _, _, Q, _ = self._probabilities(Y)
        has_q = Q > 0
        P_eps = np.where(has_q, P + eps, 1.0)  # terms with Q_ij = 0 are 0
        with np.errstate(divide="ignore"):  # eps = 0 and P_ij = 0 < Q_ij: an infinite loss, reported by the caller
            log_ratio = np.log(np.where(has_q, Q + eps, 1.0)) - np.log(P_eps)
            W = np.where(has_q, -Q / (n**2 * P_eps), 0.0)  # dL/dP: (N, N)
        loss = float(np.where(has_q, Q * log_ratio, 0.0).sum()) / n**2
        dK = (W - (W * P).sum(axis=1, keepdims=True)) / s[:, None]  # through P = K / s
        dC = dK / 2.0
        dXh = (dC + dC.T) @ Xh  # (N, N) @ (N, d) -> (N, d)
        dS = _unit_backward(dXh, Xh, norm)
        return loss, dS.astype(S.dtype, copy=False), {"soft": loss, "hard": None, "dparams": {}}
