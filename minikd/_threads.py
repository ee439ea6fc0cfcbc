"""One BLAS thread for small models: the rule, and the context manager ``train``/``evaluate`` use.

NumPy's OpenBLAS runs every matmul above a tiny size on all cores. For a small model the
matmuls are so short that waking the second thread costs more than it saves: ``python -m
minikd`` took 4.6 s on NumPy's default 2 threads and 2.3 s on one, on an idle 2-core machine,
and 22 s against 4.2 s while two other processes kept the cores busy (the woken thread waits
for a core). A large model's matmuls do gain from the threads. So ``train`` and ``evaluate``
run inside :func:`blas_threads_for`, which limits BLAS to one thread when the model's largest
matmul is small, and otherwise leaves the thread count alone (measurements:
``benchmarks/bench_threads.py``, tables in ``benchmarks/README.md``).

The limit is set with ``threadpoolctl`` (the tool scikit-learn uses for the same job): it
changes the thread count of the BLAS libraries already loaded in the process, for the duration
of a ``with`` block, and restores the previous counts when the block ends or raises.
"""

from __future__ import annotations

import contextlib
import os

from threadpoolctl import threadpool_limits

__all__ = ["ENV_VAR", "USER_THREAD_VARS", "SMALL_MATMUL", "largest_matmul", "blas_thread_limit",
           "blas_threads_for"]

#: The user override: unset or "auto" (the rule), "off" (never change BLAS threads), or an int >= 1
#: (that many BLAS threads in ``train``/``evaluate``, whatever the model).
ENV_VAR = "MINIKD_BLAS_THREADS"

#: Variables by which a user sets the BLAS thread count at start-up; if any is set (and
#: ``MINIKD_BLAS_THREADS`` is not), minikd leaves the count as the user chose it.
USER_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")

#: Below this many multiply-adds in the largest matmul of a step (N x fan_in x fan_out), a
#: second BLAS thread did not pay on the 2-core machine of benchmarks/README.md (sweep there).
SMALL_MATMUL = 16_000_000


def largest_matmul(model, batch_size: int) -> int:
    """Multiply-adds of the largest forward matmul of ``model`` on a batch of ``batch_size`` rows.

    Parameters
    ----------
    model : MLP
        Anything with ``layer_sizes`` ``[D, H1, ..., C]``.
    batch_size : int
        N, the rows multiplied at once.

    Returns
    -------
    int
        ``N * max_k(fan_in_k * fan_out_k)``: the (N, fan_in) @ (fan_in, fan_out) product of the
        widest layer. The backward matmuls of a layer (dX and dW) have the same count.
    """
    sizes = model.layer_sizes
    return batch_size * max(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def blas_thread_limit(model, batch_size) -> int | None:
    """The BLAS thread count minikd sets for work on ``model`` at ``batch_size``, or None (leave it).

    Parameters
    ----------
    model : MLP
    batch_size : int
        Rows per matmul (the minibatch in ``train``, all rows in ``evaluate``).

    Returns
    -------
    int or None
        In order: ``MINIKD_BLAS_THREADS`` if set ("off" gives None, an int its value);
        None if the user set a BLAS thread variable (``USER_THREAD_VARS``); 1 if
        :func:`largest_matmul` is below :data:`SMALL_MATMUL`; otherwise None. None also for
        arguments that ``train``/``evaluate`` will reject, so their own errors come through.

    Raises
    ------
    ValueError
        If ``MINIKD_BLAS_THREADS`` is neither "auto", "off" nor an integer >= 1.
    """
    setting = os.environ.get(ENV_VAR, "auto").strip().lower()
    if setting not in ("", "auto", "off"):
        try:
            threads = int(setting)
        except ValueError:
            threads = 0
        if threads < 1:
            raise ValueError(f'{ENV_VAR} must be "auto", "off" or an integer >= 1, got {os.environ[ENV_VAR]!r}')
        return threads
    if setting == "off" or any(os.environ.get(name) for name in USER_THREAD_VARS):
        return None
    sizes = getattr(model, "layer_sizes", None)
    if not isinstance(batch_size, int) or batch_size < 1 or not sizes or len(sizes) < 2:
        return None
    return 1 if largest_matmul(model, batch_size) < SMALL_MATMUL else None


@contextlib.contextmanager
def blas_threads_for(model, batch_size):
    """Run the ``with`` block on the BLAS thread count :func:`blas_thread_limit` chooses.

    Parameters
    ----------
    model : MLP
    batch_size : int

    Notes
    -----
    The limit applies to every BLAS library loaded in the process (``threadpoolctl``,
    ``user_api="blas"``) and is process-wide: another thread of the program that runs matmuls
    meanwhile gets it too. The previous thread counts are restored when the block ends,
    normally or by an exception. OpenMP pools are not touched.

    Examples
    --------
    >>> from minikd import MLP
    >>> from minikd._threads import blas_threads_for
    >>> with blas_threads_for(MLP([64, 32, 10]), 32):  # 65,536 multiply-adds: one thread
    ...     pass
    """
    limit = blas_thread_limit(model, batch_size)
    if limit is None:
        yield
        return
    with threadpool_limits(limits=limit, user_api="blas"):
        yield
