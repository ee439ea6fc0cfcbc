"""Slow, obviously-correct references for the distillation losses: plain Python loops over samples
and classes with ``math.exp``/``math.log``, written straight from the formulas in the docstrings of
``minikd.strategies`` and sharing no code with it.

Inputs are nested lists (or arrays, read element by element): logits rows z_i, v_i; labels are a
list of ints, a list of probability rows, or None. Logits should be moderate (|z/T| < ~300) since
``math.exp`` overflows past 709; the row maximum is subtracted, which does not change softmax.
"""

from __future__ import annotations

import math


def softmax_row(row, temperature=1.0):
    """softmax(row / T) of one row, as a list of floats."""
    scaled = [float(x) / temperature for x in row]
    top = max(scaled)
    exps = [math.exp(s - top) for s in scaled]
    total = sum(exps)
    return [e / total for e in exps]


def kl_rows(q, p):
    """KL(q || p) = sum_j q_j log(q_j / p_j), with 0 log 0 = 0."""
    total = 0.0
    for qj, pj in zip(q, p, strict=True):
        if qj > 0:
            total += qj * math.log(qj / pj)
    return total


def target_row(label, n_classes):
    """A label as a probability row: one-hot for an int, the row itself otherwise."""
    if isinstance(label, (int,)) or (hasattr(label, "ndim") and label.ndim == 0):
        return [1.0 if j == int(label) else 0.0 for j in range(n_classes)]
    return [float(x) for x in label]


def cross_entropy_row(row, label):
    """-sum_j y_j log softmax(row)_j at temperature 1."""
    probs = softmax_row(row)
    y = target_row(label, len(probs))
    return -sum(yj * math.log(pj) for yj, pj in zip(y, probs, strict=True) if yj > 0)


def hinton_loss(z, v, labels, temperature, alpha):
    """(1/N) sum_i [alpha CE(z_i, y_i) + (1 - alpha) T^2 KL(softmax(v_i/T) || softmax(z_i/T))];
    without labels (1/N) sum_i T^2 KL_i."""
    n = len(z)
    total = 0.0
    for i in range(n):
        q = softmax_row(v[i], temperature)
        p = softmax_row(z[i], temperature)
        soft = temperature**2 * kl_rows(q, p)
        if labels is None:
            total += soft
        else:
            total += alpha * cross_entropy_row(z[i], labels[i]) + (1 - alpha) * soft
    return total / n


def logit_matching_loss(z, v, labels, alpha, center=False):
    """(1/N) sum_i [alpha CE(z_i, y_i) + (1 - alpha) ||d_i||^2 / (2C)], d_i = z_i - v_i (centred)."""
    n = len(z)
    total = 0.0
    for i in range(n):
        c = len(z[i])
        d = [float(a) - float(b) for a, b in zip(z[i], v[i], strict=True)]
        if center:
            mean = sum(d) / c
            d = [x - mean for x in d]
        soft = sum(x * x for x in d) / (2 * c)
        if labels is None:
            total += soft
        else:
            total += alpha * cross_entropy_row(z[i], labels[i]) + (1 - alpha) * soft
    return total / n


def target_class(label):
    """Target class of a label: the int itself, or the first argmax of a probability row."""
    if isinstance(label, int) or (hasattr(label, "ndim") and label.ndim == 0):
        return int(label)
    row = [float(x) for x in label]
    return row.index(max(row))


def dkd_terms_row(z_row, v_row, g, temperature):
    """(TCKD, NCKD) of one sample with target class g, straight from the definitions."""
    p = softmax_row(z_row, temperature)
    q = softmax_row(v_row, temperature)
    b_student = [p[g], sum(p[j] for j in range(len(p)) if j != g)]
    b_teacher = [q[g], sum(q[j] for j in range(len(q)) if j != g)]
    tckd = kl_rows(b_teacher, b_student)
    p_hat = [p[j] / b_student[1] for j in range(len(p)) if j != g]
    q_hat = [q[j] / b_teacher[1] for j in range(len(q)) if j != g]
    nckd = kl_rows(q_hat, p_hat)
    return tckd, nckd


def dkd_loss(z, v, labels, temperature, alpha, beta):
    """(1/N) sum_i T^2 (alpha TCKD_i + beta NCKD_i)."""
    n = len(z)
    total = 0.0
    for i in range(n):
        tckd, nckd = dkd_terms_row(z[i], v[i], target_class(labels[i]), temperature)
        total += temperature**2 * (alpha * tckd + beta * nckd)
    return total / n
