"""The schema of a checkpoint: every field of a decoded file checked before anything is built from it.

:func:`_check_checkpoint` takes the plain data that :func:`minikd.checkpoint.files.load_checkpoint`
decoded and returns a :class:`Checkpoint`, or raises a :class:`~minikd.checkpoint.CheckpointError`
naming the field, the rule and the value. The checks of the trainer's own state (generator, early
stopping, history, fingerprint) are the trainer's rules, kept in :mod:`minikd._run_state`; this
module checks the models and the optimizer and puts the pieces together. Imports only
:mod:`~minikd.checkpoint.config` from the package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._run_state import (
    History,
    check_arrays_like,
    check_dict,
    check_early_stopping_state,
    check_fingerprint,
    check_history_state,
    check_rng_state,
    param_spec,
)
from .._validation import describe
from ..layers import ACTIVATIONS
from ..mlp import MLP
from ..optim import SGD, Adam
from ..schedules import Schedule, from_config_value
from .config import CHECKPOINT_METRICS, CheckpointError

__all__ = ["Checkpoint"]

_TOP_KEYS = ("format", "format_version", "minikd_version", "epoch", "metrics", "student", "teacher", "optimizer",
             "trainer")
_TRAINER_KEYS = ("config", "rng_state", "early_stopping", "history", "fingerprint", "strategy_params")
# The names a strategy's trainable arrays have in the trainer: "strategy.W", "strategy.1.W", ...
_STRATEGY_PARAM = re.compile(r"strategy\.([0-9]{1,4}\.)*[A-Za-z_][A-Za-z0-9_]{0,63}")
_OPTIMIZERS = {"SGD": SGD, "Adam": Adam}
_MODEL_KEYS = ("layer_sizes", "activation", "dtype")
_MODEL_RATES = ("dropout", "input_dropout")  # optional: absent in files saved before MLP had dropout (0.0)
_MODEL_OPTIONAL = _MODEL_RATES + ("max_norm",)  # max_norm: absent before it existed (None)


@dataclass
class Checkpoint:
    """A loaded checkpoint: every field validated against the schema.

    Attributes
    ----------
    path : Path
    epoch : int
        The number of completed epochs when it was saved.
    metrics : dict
        That epoch's metrics (loss, val_loss, ...).
    student : MLP, list of MLP, or None
        The student rebuilt with its saved parameters (a cohort's checkpoint, from
        :class:`~minikd.MutualLearningTrainer`: a list, one per student; None if ``save_student`` was False).
    teacher : MLP or None
        The teacher, if it was saved.
    history : History, or a list of them (a cohort's: one per student)
    optimizer_state, optimizer_config : dict, or lists of them (a cohort's: one per student)
        ``Optimizer.state_dict()`` and ``{"name": class name, **get_config()}``.
    trainer_state : dict
        The trainer's ``state_dict()``: ``config``, ``rng_state``, ``early_stopping``, ``history``,
        ``fingerprint``.
    trainer_config, rng_state, early_stopping_state, fingerprint : dict
        The same entries of ``trainer_state`` (``fingerprint`` is None in a converted format-1 file).
    minikd_version : str
        The version that wrote the file.
    raw : dict
        The decoded file.
    """

    path: Path
    epoch: int
    metrics: dict
    student: object
    teacher: object
    history: History
    optimizer_state: dict
    optimizer_config: dict
    trainer_config: dict
    rng_state: dict
    early_stopping_state: dict
    minikd_version: str
    trainer_state: dict = field(repr=False, default_factory=dict)
    fingerprint: dict | None = field(repr=False, default=None)
    raw: dict = field(repr=False, default_factory=dict)


def _check_checkpoint(raw: dict, path: Path) -> Checkpoint:
    """Every field of a decoded checkpoint against the schema, as a :class:`Checkpoint`."""
    try:
        check_dict(raw, "the checkpoint", _TOP_KEYS)
        epoch = raw["epoch"]
        _require(type(epoch) is int and epoch >= 1, "epoch", "an int >= 1", epoch)
        metrics = raw["metrics"]
        _require(isinstance(metrics, dict) and set(metrics) <= set(CHECKPOINT_METRICS)
                 and all(v is None or type(v) in (int, float) for v in metrics.values()),
                 "metrics", f"a dict of {list(CHECKPOINT_METRICS)} -> number or None", metrics)
        _require(isinstance(raw["minikd_version"], str) and len(raw["minikd_version"]) <= 100,
                 "minikd_version", "a short string", raw["minikd_version"])
        teacher = _check_model(raw["teacher"], "teacher")
        trainer = raw["trainer"]
        if isinstance(trainer, dict) and "strategy_params" not in trainer:  # written before strategies had params
            trainer = {**trainer, "strategy_params": {}}
        check_dict(trainer, "trainer", _TRAINER_KEYS)
        strategy_params = _check_strategy_params(trainer["strategy_params"], "trainer['strategy_params']")
        if isinstance(raw["optimizer"], list):  # a cohort (MutualLearningTrainer): lists, one entry per student
            student, optimizer_config, optimizer_state, spec = _check_cohort(raw, strategy_params)
        else:
            student = _check_model(raw["student"], "student")
            # the optimizer and early stopping keep the student's parameters and the strategy's together
            spec = None if student is None else {**param_spec(student.params), **param_spec(strategy_params)}
            optimizer_config, optimizer_state = _check_optimizer(raw["optimizer"], "optimizer", spec)
        cohort = len(raw["optimizer"]) if isinstance(raw["optimizer"], list) else 0  # students in it
        history = _check_trainer_state(trainer, "trainer", epoch, spec, cohort)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{str(path)!r} holds a malformed checkpoint: {exc}") from None
    return Checkpoint(
        path=path, epoch=epoch, metrics=dict(metrics), student=student, teacher=teacher, history=history,
        optimizer_state=optimizer_state, optimizer_config=optimizer_config, trainer_config=trainer["config"],
        rng_state=trainer["rng_state"], early_stopping_state=trainer["early_stopping"],
        minikd_version=raw["minikd_version"], trainer_state=trainer, fingerprint=trainer["fingerprint"], raw=raw,
    )


def _check_model(value, where: str):
    """A saved MLP (``{"config", "params"}``, optionally ``"dropout_rng"``): the config's rules, then every
    parameter's shape and dtype from the config, before a model of that size is built (it cannot be
    larger than the arrays the file really holds). The dropout rates and max_norm are optional keys of the config."""
    if value is None:
        return None
    # "dropout_rng": the state of the model's dropout generator (a student's, for bit-identical resume)
    check_dict(value, where, ("config", "params") + (("dropout_rng",) if isinstance(value, dict)
                                                     and "dropout_rng" in value else ()))
    if "dropout_rng" in value:
        check_rng_state(value["dropout_rng"], f"{where}['dropout_rng']")
    given = tuple(key for key in _MODEL_OPTIONAL if isinstance(value["config"], dict) and key in value["config"])
    config = check_dict(value["config"], f"{where}['config']", _MODEL_KEYS + given)
    if config.get("max_norm") is not None:
        norm = config["max_norm"]
        _require(type(norm) in (int, float) and 0 < norm < float("inf"), f"{where}['config']['max_norm']",
                 "None or a finite number > 0", norm)
    for key in (k for k in given if k in _MODEL_RATES):
        rate = config[key]
        _require(type(rate) in (int, float) and 0 <= rate < 1, f"{where}['config'][{key!r}]",
                 "a number in [0, 1) (the probability of dropping a unit)", rate)
    sizes = config["layer_sizes"]
    _require(isinstance(sizes, list) and len(sizes) >= 2
             and all(type(n) is int and 1 <= n <= 2**31 for n in sizes),
             f"{where}['config']['layer_sizes']", "a list of at least 2 ints in [1, 2**31]", sizes)
    _require(config["activation"] in ACTIVATIONS, f"{where}['config']['activation']",
             f"one of {sorted(ACTIVATIONS)}", config["activation"])
    _require(config["dtype"] in ("float32", "float64"), f"{where}['config']['dtype']",
             "'float32' or 'float64'", config["dtype"])
    dtype = np.dtype(config["dtype"])
    spec = {}
    for k in range(1, len(sizes)):
        spec[f"W{k}"] = ((sizes[k - 1], sizes[k]), dtype)
        spec[f"b{k}"] = ((sizes[k],), dtype)
    check_arrays_like(value["params"], f"{where}['params']", spec)
    model = MLP.from_config(config, params=value["params"])
    if "dropout_rng" in value:
        model.dropout_rng.bit_generator.state = value["dropout_rng"]
    return model


def _check_cohort(raw: dict, strategy_params: dict) -> tuple:
    """A cohort's students and optimizers: ``raw["optimizer"]`` a list of at least 2, ``raw["student"]`` None
    or a list as long; returns (students or None, optimizer configs, optimizer states, early stopping's spec:
    every student's parameters under ``"{k}.{name}"``)."""
    optimizers, students = raw["optimizer"], raw["student"]
    n = len(optimizers)
    _require(n >= 2, "optimizer", "a dict, or a list of one optimizer per student of a cohort (at least 2)", optimizers)
    _require(students is None or (isinstance(students, list) and len(students) == n), "student",
             f"None or a list of {n} students (one per optimizer, as in a cohort's checkpoint)", students)
    _require(not strategy_params, "trainer['strategy_params']", "{} in a cohort's checkpoint (mutual learning "
             "trains no strategy parameters)", strategy_params)
    models = None if students is None else [_check_model(m, f"student[{k}]") for k, m in enumerate(students)]
    checked = [_check_optimizer(opt, f"optimizer[{k}]", None if models is None else param_spec(models[k].params))
               for k, opt in enumerate(optimizers)]
    spec = None if models is None else {f"{k}.{name}": v for k, m in enumerate(models)
                                        for name, v in param_spec(m.params).items()}
    return models, [c for c, _ in checked], [state for _, state in checked], spec


def _check_optimizer(value, where: str, spec: dict | None) -> tuple[dict, dict]:
    """``{"config": {"name", ...hyperparameters}, "state": Optimizer.state_dict()}``.

    For minikd's own optimizers (SGD, Adam) the optimizer is rebuilt from its config and loads the
    state (its own checks). The state of any other class (a user's subclass) is checked for its
    structure only; its ``load_state_dict`` checks the rest on resume. Either way every buffer
    must be shaped like the student's parameter it belongs to.
    """
    check_dict(value, where, ("config", "state"))
    config, state = value["config"], value["state"]
    _require(isinstance(config, dict) and isinstance(config.get("name"), str), f"{where}['config']",
             "a dict with the optimizer's class 'name' and hyperparameters", config)
    hyper = {k: v for k, v in config.items() if k != "name"}
    _require(all(v is None or type(v) in (bool, int, float, str) or _is_schedule_config(v) for v in hyper.values()),
             f"{where}['config']", "a dict of plain hyperparameters (numbers, bools, strings, None, or a schedule's "
             "config)", config)
    check_dict(state, f"{where}['state']", ("format_version", "type", "config", "t", "buffers"))
    _require(state["type"] == config["name"], f"{where}['state']['type']", repr(config["name"]), state["type"])
    _require(state["config"] == hyper, f"{where}['state']['config']", f"equal to {where}['config'] without 'name'",
             state["config"])
    _require(type(state["t"]) is int and state["t"] >= 0, f"{where}['state']['t']", "an int >= 0", state["t"])
    check_dict(state["buffers"], f"{where}['state']['buffers']")
    for name, buffers in state["buffers"].items():
        at = f"{where}['state']['buffers'][{name!r}]"
        if spec is not None:
            check_arrays_like(buffers, at, spec, subset=True)
        else:
            check_dict(buffers, at)
    if config["name"] in _OPTIMIZERS:
        try:
            _OPTIMIZERS[config["name"]](**{k: from_config_value(v) for k, v in hyper.items()}).load_state_dict(state)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where} is not a valid {config['name']} state: {exc}") from None
    return config, state


def _check_strategy_params(value, where: str) -> dict:
    """The strategy's trained arrays (e.g. HintLoss's regressor): names ``strategy.[k.]name``, finite
    float32/float64 arrays (their shapes are compared with the strategy's on resume)."""
    check_dict(value, where)
    for name, arr in value.items():
        _require(isinstance(name, str) and _STRATEGY_PARAM.fullmatch(name) is not None, f"{where} key",
                 "a name like 'strategy.W' or 'strategy.1.W'", name)
        _require(isinstance(arr, np.ndarray) and arr.dtype in (np.float32, np.float64) and 1 <= arr.ndim <= 2,
                 f"{where}[{name!r}]", "a 1-D or 2-D float32 or float64 array", arr)
        _require(bool(np.isfinite(arr).all()), f"{where}[{name!r}]", "finite", arr)
    return value


def _check_trainer_state(value, where: str, epoch: int, spec: dict | None, cohort: int = 0):
    """A trainer's ``state_dict()``: its config (compared on resume), the generator's state, the
    early-stopping state, the history (a cohort's: a list, one per student, of equal epochs) and the run's
    fingerprint (None in a converted format-1 file)."""
    check_dict(value, where, _TRAINER_KEYS)
    _require(isinstance(value["config"], dict) and isinstance(value["config"].get("trainer"), str),
             f"{where}['config']", "a dict of the trainer's settings", value["config"])
    check_rng_state(value["rng_state"], f"{where}['rng_state']")
    check_early_stopping_state(value["early_stopping"], f"{where}['early_stopping']", epoch, spec)
    if cohort:
        histories = value["history"]
        _require(isinstance(histories, list) and len(histories) == cohort, f"{where}['history']",
                 f"a list of {cohort} histories (one per student of the cohort)", histories)
        history = [check_history_state(h, f"{where}['history'][{k}]", epoch) for k, h in enumerate(histories)]
    else:
        history = check_history_state(value["history"], f"{where}['history']", epoch)
    if value["fingerprint"] is not None:
        check_fingerprint(value["fingerprint"], f"{where}['fingerprint']")
    return history


def _is_schedule_config(value) -> bool:
    """A schedule's plain-data config (rebuilt by ``schedule_from_config``, which knows only minikd's four)."""
    try:
        return isinstance(value, dict) and isinstance(from_config_value(value), Schedule)
    except (TypeError, ValueError):
        return False


def _require(ok: bool, where: str, rule: str, value) -> None:
    if not ok:
        raise ValueError(f"{where} must be {rule}, got {describe(value)}")

