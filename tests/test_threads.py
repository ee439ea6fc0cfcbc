"""One BLAS thread for small models (``minikd/_threads.py``): where the limit is in force, and when not.

What is checked is the thread count BLAS reports (``threadpoolctl.threadpool_info``) from inside
``train`` and ``evaluate`` — seen by a callback and by the teacher — and after they return or
raise. Speed is measured in ``benchmarks/bench_threads.py``, never asserted here.
"""

import re
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import minikd._threads as threads
from minikd import MLP, SGD, DistillationLoss, KnowledgeDistillationTrainer, SupervisedTrainer


def blas_threads() -> list[int]:
    return [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]


class RecordingTeacher:
    """A linear teacher that records the BLAS thread counts in force whenever it is asked."""

    def __init__(self, d, c, fail=False):
        self.W = np.random.default_rng(0).normal(size=(d, c))
        self.output_dimension = c
        self.seen = []
        self.fail = fail

    def get_logits(self, X):
        self.seen.append(blas_threads())
        if self.fail:
            raise RuntimeError("teacher failed")
        return X @ self.W


@pytest.fixture
def two_threads(monkeypatch):
    """A clean environment and 2 BLAS threads outside train(), so that a limit to 1 shows."""
    for name in (threads.ENV_VAR, *threads.USER_THREAD_VARS):
        monkeypatch.delenv(name, raising=False)
    if not blas_threads():
        pytest.skip("no BLAS library reported by threadpoolctl")
    with threadpool_limits(limits=2, user_api="blas"):
        if max(blas_threads()) < 2:
            pytest.skip("this BLAS cannot run 2 threads here")
        yield blas_threads()


def small_run(teacher=None, callbacks=(), d=8, n=64, batch_size=16, trainer=None, **kw):
    X = np.random.default_rng(1).random((n, d))
    y = np.arange(n) % 3
    teacher = teacher or RecordingTeacher(d, 3)
    trainer = trainer or KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=2.0), seed=0)
    student = MLP([d, 8, 3], seed=1)
    trainer.train(student, X, y, epochs=2, batch_size=batch_size, callbacks=callbacks, verbose=0, **kw)
    return trainer, student, X, y


def test_small_model_trains_on_one_blas_thread(two_threads):
    seen_by_callback = []
    teacher = RecordingTeacher(8, 3)
    small_run(teacher, callbacks=[lambda epoch, logs: seen_by_callback.append(blas_threads())],
              validation_data=None)
    assert seen_by_callback and all(t == [1] * len(two_threads) for t in seen_by_callback), seen_by_callback
    assert teacher.seen and all(t == [1] * len(two_threads) for t in teacher.seen), teacher.seen  # the cache fill
    assert blas_threads() == two_threads  # restored after train() returns


def test_small_model_is_evaluated_on_one_blas_thread(two_threads):
    teacher = RecordingTeacher(8, 3)
    trainer, student, X, y = small_run(teacher)
    teacher.seen.clear()
    trainer.evaluate(student, X, y)
    assert teacher.seen == [[1] * len(two_threads)]
    assert blas_threads() == two_threads


def test_large_model_keeps_the_thread_count(two_threads):
    # The smallest batch whose largest matmul reaches SMALL_MATMUL for a [D, 10] student.
    d, c = 2000, 10
    batch = -(-threads.SMALL_MATMUL // (d * c))
    student = MLP([d, c], seed=1, dtype=np.float32)
    assert threads.largest_matmul(student, batch) >= threads.SMALL_MATMUL
    assert threads.largest_matmul(student, batch - 1) < threads.SMALL_MATMUL
    X = np.random.default_rng(1).random((batch, d), dtype=np.float32)
    teacher = RecordingTeacher(d, c)
    seen = []
    trainer = KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=2.0), seed=0)
    trainer.train(student, X, epochs=1, batch_size=batch, verbose=0, optimizer=SGD(learning_rate=1e-3),
                  callbacks=[lambda epoch, logs: seen.append(blas_threads())])
    assert seen == [two_threads] and teacher.seen == [two_threads]
    teacher.seen.clear()
    trainer.evaluate(student, X)  # N = batch rows at once: large too
    assert teacher.seen == [two_threads]


def test_limits_are_restored_when_train_raises(two_threads):
    with pytest.raises(RuntimeError, match="teacher failed"):
        small_run(RecordingTeacher(8, 3, fail=True))
    assert blas_threads() == two_threads

    class Stop(Exception):
        pass

    def stop(epoch, logs):
        raise Stop

    with pytest.raises(Stop):
        small_run(callbacks=[stop])
    assert blas_threads() == two_threads


def test_supervised_trainer_too(two_threads):
    seen = []
    small_run(trainer=SupervisedTrainer(seed=0), callbacks=[lambda epoch, logs: seen.append(blas_threads())])
    assert seen and all(t == [1] * len(two_threads) for t in seen)


def test_override_off_leaves_the_thread_count(two_threads, monkeypatch):
    monkeypatch.setenv(threads.ENV_VAR, "off")
    teacher = RecordingTeacher(8, 3)
    small_run(teacher)
    assert teacher.seen and all(t == two_threads for t in teacher.seen)


def test_override_with_a_count_applies_to_any_model(two_threads, monkeypatch):
    monkeypatch.setenv(threads.ENV_VAR, "1")
    assert threads.blas_thread_limit(MLP([784, 1200, 1200, 10], seed=0), 128) == 1
    monkeypatch.setenv(threads.ENV_VAR, "2")
    teacher = RecordingTeacher(8, 3)
    small_run(teacher)  # a small model, yet 2 threads as asked
    assert teacher.seen and all(t == two_threads for t in teacher.seen)


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_bad_override_raises_naming_the_variable(two_threads, monkeypatch, value):
    monkeypatch.setenv(threads.ENV_VAR, value)
    message = f'MINIKD_BLAS_THREADS must be "auto", "off" or an integer >= 1, got {value!r}'
    with pytest.raises(ValueError, match=re.escape(message)):
        small_run()
    assert blas_threads() == two_threads


@pytest.mark.parametrize("name", threads.USER_THREAD_VARS)
def test_a_user_thread_variable_is_respected(two_threads, monkeypatch, name):
    monkeypatch.setenv(name, "2")
    teacher = RecordingTeacher(8, 3)
    small_run(teacher)
    assert teacher.seen and all(t == two_threads for t in teacher.seen)
    monkeypatch.setenv(threads.ENV_VAR, "auto")  # an explicit minikd setting wins over it
    assert threads.blas_thread_limit(MLP([8, 8, 3]), 16) is None
    monkeypatch.setenv(threads.ENV_VAR, "1")
    assert threads.blas_thread_limit(MLP([8, 8, 3]), 16) == 1


def test_the_rule(monkeypatch):
    for name in (threads.ENV_VAR, *threads.USER_THREAD_VARS):
        monkeypatch.delenv(name, raising=False)
    demo_teacher, demo_student = MLP([64, 256, 256, 10]), MLP([64, 32, 10])
    assert threads.largest_matmul(demo_teacher, 32) == 32 * 256 * 256
    assert threads.largest_matmul(demo_student, 32) == 32 * 64 * 32
    assert threads.blas_thread_limit(demo_teacher, 32) == 1
    assert threads.blas_thread_limit(demo_student, 32) == 1
    assert threads.blas_thread_limit(MLP([784, 1200, 1200, 10]), 128) is None  # Hinton size keeps its threads
    # arguments train() will reject are left to train()'s own checks
    assert threads.blas_thread_limit(object(), 32) is None
    assert threads.blas_thread_limit(demo_student, 0) is None
    assert threads.blas_thread_limit(demo_student, "32") is None


def test_warnings_from_train_point_at_the_caller(two_threads):
    X = np.random.default_rng(1).random((32, 4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SupervisedTrainer(use_early_stopping=True, seed=0).train(MLP([4, 4, 3], seed=0), X, np.arange(32) % 3,
                                                                 epochs=1, verbose=0)
    assert [w.filename for w in caught] == [__file__]
