"""Checkpoint format 2: every field of a file is validated inside load_checkpoint, a resume continues
the same run or refuses, format-1 files are refused unless converted on purpose, and the checkpoint
module stays below the trainer."""

import ast
import pickle
from pathlib import Path

import numpy as np
import pytest

import minikd
from minikd._checkpoint_format import decode, encode
from minikd.checkpoint import (
    CheckpointError,
    DistillationCheckpointConfig,
    convert_legacy_checkpoint,
    load_checkpoint,
)
from minikd.datasets import make_blobs
from minikd.mlp import MLP
from minikd.optim import SGD, Adam
from minikd.strategies import DistillationLoss
from minikd.teachers import EnsembleTeacher
from minikd.trainer import KnowledgeDistillationTrainer, SupervisedTrainer


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(n_samples=120, n_features=4, n_classes=3, cluster_std=2.0, seed=1)
    teacher = MLP([4, 16, 3], seed=0)
    SupervisedTrainer(seed=0).train(teacher, X, y, epochs=5, batch_size=20, optimizer=SGD(0.05, momentum=0.9),
                                    verbose=0)
    return X[:90], y[:90], X[90:], y[90:], teacher


def _trainer(teacher, directory, **kw):
    config = DistillationCheckpointConfig(directory, save_every_epochs=1, keep_best_n=0, best_metric="loss")
    return KnowledgeDistillationTrainer(teacher, DistillationLoss(temperature=3.0, alpha=0.3),
                                        checkpoint_config=config, seed=0, **kw)


@pytest.fixture()
def run(tmp_path, data):
    """A 3-epoch run with early stopping and validation (so best_params and history are filled)."""
    X, y, Xv, yv, teacher = data
    trainer = _trainer(teacher, tmp_path / "run", use_early_stopping=True, early_stopping_patience=10)
    trainer.train(MLP([4, 8, 3], seed=1), X, y, epochs=3, batch_size=16, optimizer=SGD(0.05, momentum=0.9),
                  validation_data=(Xv, yv), verbose=0)
    return tmp_path / "run" / "distillation_epoch0003.pkl"


# ---------------------------------------------------------------------------- the schema
def _big(raw):
    raw["student"]["config"]["layer_sizes"] = [100_000, 100_000, 3]


def _nan_param(raw):
    raw["student"]["params"]["W1"][0, 0] = np.nan


MUTATIONS = [
    ("missing key", lambda r: r.pop("trainer"), "missing \\['trainer'\\]"),
    ("extra key", lambda r: r.update(extra=1), "unexpected \\['extra'\\]"),
    ("epoch a string", lambda r: r.update(epoch="3"), "epoch must be an int"),
    ("epoch a bool", lambda r: r.update(epoch=True), "epoch must be an int"),
    ("epoch 0", lambda r: r.update(epoch=0), "epoch must be an int >= 1"),
    ("metrics a list", lambda r: r.update(metrics=[1.0]), "metrics must be"),
    ("metrics unknown name", lambda r: r["metrics"].update(bogus=1.0), "metrics must be"),
    ("metric a string", lambda r: r["metrics"].update(loss="low"), "metrics must be"),
    ("student config extra key", lambda r: r["student"]["config"].update(seed=1), "student\\['config'\\]"),
    ("layer sizes floats", lambda r: r["student"]["config"].update(layer_sizes=[4.0, 8, 3]), "layer_sizes"),
    ("layer sizes a string", lambda r: r["student"]["config"].update(layer_sizes="4,8,3"), "layer_sizes"),
    ("huge architecture, small arrays", _big, "student\\['params'\\]\\['W1'\\] must have shape \\(100000, 100000\\)"),
    ("unknown activation", lambda r: r["student"]["config"].update(activation="gelu"), "activation"),
    ("unknown dtype", lambda r: r["student"]["config"].update(dtype="float16"), "dtype"),
    ("param missing", lambda r: r["student"]["params"].pop("b2"), "missing \\['b2'\\]"),
    ("param wrong shape", lambda r: r["student"]["params"].update(W1=np.zeros((3, 8))), "W1.*shape \\(4, 8\\)"),
    ("param wrong dtype", lambda r: r["student"]["params"].update(b1=np.zeros(8, np.float32)), "b1.*dtype float64"),
    ("param not an array", lambda r: r["student"]["params"].update(b1=[0.0] * 8), "b1.*ndarray"),
    ("param not finite", _nan_param, "W1.*finite"),
    ("optimizer unknown keys", lambda r: r["optimizer"].update(x=1), "optimizer"),
    ("optimizer bad config", lambda r: r["optimizer"]["config"].update(learning_rate=-1.0), "learning_rate"),
    ("optimizer type mismatch", lambda r: r["optimizer"]["state"].update(type="Adam"), "type"),
    ("optimizer t a float", lambda r: r["optimizer"]["state"].update(t=1.5), "\\['t'\\]"),
    ("momentum wrong shape", lambda r: r["optimizer"]["state"]["buffers"]["momentum"].update(W1=np.zeros((1, 1))),
     "momentum.*W1.*shape \\(4, 8\\)"),
    ("momentum of an unknown parameter", lambda r: r["optimizer"]["state"]["buffers"]["momentum"].update(
        W9=np.zeros(3)), "unexpected \\['W9'\\]"),
    ("best_params wrong shape", lambda r: r["trainer"]["early_stopping"]["best_params"].update(b2=np.zeros(2)),
     "best_params.*b2.*shape \\(3,\\)"),
    ("wait negative", lambda r: r["trainer"]["early_stopping"].update(wait=-1), "wait"),
    ("history list too long", lambda r: r["trainer"]["history"]["loss"].append(1.0), "loss.*3 entries"),
    ("history epochs wrong", lambda r: r["trainer"]["history"].update(epochs=[1, 2, 4]), "epochs"),
    ("history a string entry", lambda r: r["trainer"]["history"]["val_loss"].__setitem__(0, "x"), "val_loss"),
    ("history stopped later", lambda r: r["trainer"]["history"].update(stopped_epoch=9), "stopped_epoch"),
    ("rng wrong generator", lambda r: r["trainer"]["rng_state"].update(bit_generator="MT19937"), "PCG64"),
    ("rng state huge int", lambda r: r["trainer"]["rng_state"]["state"].update(state=2**200), "rng_state"),
    ("rng state negative", lambda r: r["trainer"]["rng_state"]["state"].update(inc=-1), "rng_state"),
    ("fingerprint wrong type", lambda r: r["trainer"].update(fingerprint="abc"), "fingerprint"),
    ("fingerprint batch size 0", lambda r: r["trainer"]["fingerprint"].update(batch_size=0), "batch_size"),
    ("trainer config a list", lambda r: r["trainer"].update(config=[1]), "config"),
    ("version a number", lambda r: r.update(minikd_version=1), "minikd_version"),
]


@pytest.mark.parametrize("mutate, match", [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_every_field_is_validated(run, tmp_path, mutate, match):
    raw = decode(run.read_bytes())
    mutate(raw)
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(encode(raw))
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(bad)
    assert "bad.pkl" in str(info.value)


def test_the_genuine_file_loads_and_its_fields_are_typed(run):
    ckpt = load_checkpoint(run)
    assert ckpt.epoch == 3 and ckpt.history.epochs == [1, 2, 3]
    assert set(ckpt.trainer_state) == {"config", "rng_state", "early_stopping", "history", "fingerprint",
                                      "strategy_params"}
    assert ckpt.trainer_state["strategy_params"] == {}  # DistillationLoss trains nothing of its own
    assert ckpt.fingerprint["n_samples"] == 90 and ckpt.fingerprint["batch_size"] == 16
    assert ckpt.fingerprint["teacher"].startswith("params:")
    for arrays in (ckpt.student.params, ckpt.early_stopping_state["best_params"],
                   ckpt.optimizer_state["buffers"]["momentum"]):
        for arr in arrays.values():
            assert arr.flags.owndata and arr.flags.writeable and arr.flags.c_contiguous


# ---------------------------------------------------------------------------- a resume is the same run
def _resume(data, directory, epochs=5, **kw):
    X, y, Xv, yv, teacher = data
    args = dict(X=X, y=y, batch_size=16, validation_data=(Xv, yv), teacher=teacher)
    args.update(kw)
    trainer = _trainer(args.pop("teacher"), directory, use_early_stopping=True, early_stopping_patience=10)
    return trainer.train(MLP([4, 8, 3], seed=1), args.pop("X"), args.pop("y"), epochs=epochs,
                         optimizer=SGD(0.05, momentum=0.9), verbose=0, resume_from="latest", **args)


def _shuffled(a):
    return a[np.random.default_rng(0).permutation(a.shape[0])]


def _other_teacher(teacher):
    other = teacher.copy()
    other.params["b1"][0] += 1e-3
    return other


RESUME_MISMATCHES = [
    ("other batch size", lambda d: dict(batch_size=8), "batch_size"),
    ("fewer samples", lambda d: dict(X=d[0][:80], y=d[1][:80]), "number of training samples"),
    ("shuffled X", lambda d: dict(X=_shuffled(d[0]), y=_shuffled(d[1])), "training input array X"),
    ("changed X", lambda d: dict(X=d[0] + 1e-9), "training input array X"),
    ("other labels", lambda d: dict(y=(d[1] + 1) % 3), "label array y"),
    ("no labels", lambda d: dict(y=None), "label array y"),
    ("other validation data", lambda d: dict(validation_data=(d[2][:10], d[3][:10])), "validation_data"),
    ("other teacher", lambda d: dict(teacher=_other_teacher(d[4])), "the teacher"),
]


@pytest.mark.parametrize("change, match", [m[1:] for m in RESUME_MISMATCHES], ids=[m[0] for m in RESUME_MISMATCHES])
def test_a_resume_of_another_run_is_refused_naming_what_differs(run, data, change, match):
    with pytest.raises(ValueError, match=f"cannot resume: (the )?{match}.* differs from the run"):
        _resume(data, run.parent, **change(data))


def test_another_early_stopping_monitor_is_refused(run, data):
    """The run of ``run`` watched the default (val_loss): a resume that watches val_accuracy is another run."""
    X, y, Xv, yv, teacher = data
    trainer = _trainer(teacher, run.parent, use_early_stopping=True, early_stopping_patience=10,
                       early_stopping_monitor="val_accuracy")
    with pytest.raises(ValueError, match="trainer setting 'early_stopping_monitor' is 'val_accuracy' now but None"):
        trainer.train(MLP([4, 8, 3], seed=1), X, y, epochs=5, batch_size=16, optimizer=SGD(0.05, momentum=0.9),
                      validation_data=(Xv, yv), verbose=0, resume_from="latest")


def test_fewer_epochs_than_done_is_refused(run, data):
    with pytest.raises(ValueError, match="epochs=2 is fewer than the 3 epochs"):
        _resume(data, run.parent, epochs=2)


def test_the_same_run_resumes(run, data):
    history = _resume(data, run.parent, epochs=5)
    assert history.epochs == [1, 2, 3, 4, 5]


def test_a_callable_teacher_is_fingerprinted_by_its_logits(tmp_path, data):
    X, y, _, _, teacher = data
    config = DistillationCheckpointConfig(tmp_path, save_every_epochs=1, best_metric="loss")

    def run(fn, epochs):
        trainer = KnowledgeDistillationTrainer(fn, DistillationLoss(), checkpoint_config=config, seed=0)
        return trainer.train(MLP([4, 8, 3], seed=1), X, y, epochs=epochs, batch_size=16, verbose=0,
                             resume_from=None if epochs == 2 else "latest")

    run(lambda Z: teacher.forward(Z), 2)
    assert load_checkpoint(tmp_path / "distillation_epoch0002.pkl").fingerprint["teacher"].startswith("logits:")
    assert run(lambda Z: teacher.forward(Z), 3).epochs == [1, 2, 3]
    with pytest.raises(ValueError, match="cannot resume: the teacher"):
        run(lambda Z: 2.0 * teacher.forward(Z), 4)


def test_an_ensemble_of_mlps_is_fingerprinted_by_parameters_weights_and_mode(tmp_path, data):
    from minikd.trainer.resume import teacher_arrays as _teacher_arrays

    members = [MLP([4, 8, 3], seed=s) for s in range(2)]
    a = EnsembleTeacher(members, mode="logits")
    assert len(_teacher_arrays(a)) == 2 * 4 + 2
    trainer = KnowledgeDistillationTrainer(a, DistillationLoss())
    X = data[0]
    fp = trainer._teacher_fingerprint(X)
    assert fp.startswith("params:")
    for other in (EnsembleTeacher(members, mode="probabilities"), EnsembleTeacher(members, weights=[1, 2]),
                  EnsembleTeacher(members[::-1])):
        assert KnowledgeDistillationTrainer(other, DistillationLoss())._teacher_fingerprint(X) != fp


def test_supervised_runs_have_no_teacher_fingerprint_and_resume(tmp_path, data):
    X, y, _, _, _ = data
    config = DistillationCheckpointConfig(tmp_path, save_every_epochs=1, best_metric="loss")
    SupervisedTrainer(checkpoint_config=config, seed=0).train(MLP([4, 8, 3], seed=1), X, y, epochs=2, verbose=0)
    assert load_checkpoint(tmp_path / "distillation_epoch0002.pkl").fingerprint["teacher"] is None
    history = SupervisedTrainer(checkpoint_config=config, seed=0).train(MLP([4, 8, 3], seed=1), X, y, epochs=3,
                                                                       verbose=0, resume_from="latest")
    assert history.epochs == [1, 2, 3]


def test_trainer_state_dict_round_trip_and_validation(run, data):
    ckpt = load_checkpoint(run)
    trainer = _trainer(data[4], run.parent)
    trainer.load_state_dict(ckpt.trainer_state)
    assert trainer.history.epochs == [1, 2, 3]
    assert trainer.rng.bit_generator.state == ckpt.rng_state
    bad = dict(ckpt.trainer_state, rng_state={"bit_generator": "PCG64"})
    with pytest.raises(ValueError, match="rng_state"):
        _trainer(data[4], run.parent).load_state_dict(bad)
    with pytest.raises(ValueError, match="state must be a dict"):
        trainer.load_state_dict([])


# ---------------------------------------------------------------------------- format 1
def _format1_file(path, run):
    """A checkpoint as minikd 0.1 wrote it: the same content, arrays pickled as NumPy objects."""
    new = load_checkpoint(run).raw
    old = {"format": "minikd-checkpoint", "format_version": 1, "minikd_version": "0.1.0",
           "epoch": new["epoch"], "metrics": new["metrics"], "student": new["student"], "teacher": None,
           "optimizer": new["optimizer"], "rng_state": new["trainer"]["rng_state"],
           "early_stopping": new["trainer"]["early_stopping"], "history": new["trainer"]["history"],
           "trainer": new["trainer"]["config"]}
    path.write_bytes(pickle.dumps(old, protocol=4))
    return path


def test_a_format1_file_is_refused_with_its_version_and_the_way_out(run, tmp_path):
    old = _format1_file(tmp_path / "old.pkl", run)
    with pytest.raises(CheckpointError, match=r"minikd 0\.1 \(checkpoint format 1\).*convert_legacy_checkpoint"):
        load_checkpoint(old)


def test_convert_legacy_checkpoint_needs_trust_and_gives_a_loadable_file(run, tmp_path, data):
    old = _format1_file(tmp_path / "old.pkl", run)
    before = old.read_bytes()
    with pytest.raises(ValueError, match="trusted must be True"):
        convert_legacy_checkpoint(old)
    assert old.read_bytes() == before
    out = convert_legacy_checkpoint(old, trusted=True, output=tmp_path / "new.pkl")
    ckpt, ref = load_checkpoint(out), load_checkpoint(run)
    assert ckpt.fingerprint is None and ckpt.epoch == ref.epoch
    for k in ref.student.params:
        assert np.array_equal(ckpt.student.params[k], ref.student.params[k])
    with pytest.raises(CheckpointError, match="not a minikd 0.1 checkpoint"):
        convert_legacy_checkpoint(out, trusted=True)
    assert convert_legacy_checkpoint(old, trusted=True) == old  # in place
    assert load_checkpoint(old).epoch == 3


def test_a_converted_file_resumes_with_a_warning(run, tmp_path, data):
    directory = tmp_path / "converted"
    directory.mkdir()
    for p in run.parent.iterdir():
        (directory / p.name).write_bytes(p.read_bytes())
    target = directory / run.name
    _format1_file(target, run)
    convert_legacy_checkpoint(target, trusted=True)
    with pytest.warns(UserWarning, match="no fingerprint"):
        history = _resume(data, directory, epochs=4)
    assert history.epochs == [1, 2, 3, 4]


# ---------------------------------------------------------------------------- the boundary
def _imports(module_path: Path) -> set:
    """The modules ``module_path`` imports, as written: ``.config`` and ``.config.X`` for ``from .config import X``."""
    tree = ast.parse(module_path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = ("." * node.level) + (node.module or "")
            names.add(base)
            names.update(base + ("" if node.module is None else ".") + alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


#: The modules of minikd.checkpoint in the order its docstring states: each imports only modules before it.
CHECKPOINT_MODULES = ("config", "schema", "files", "names", "index", "lock", "manager")


def test_checkpoint_package_does_not_import_the_trainer():
    package = Path(minikd.__file__).parent
    modules = [*sorted((package / "checkpoint").glob("*.py")), package / "_run_state.py",
               package / "_checkpoint_format.py"]
    assert len(modules) == len(CHECKPOINT_MODULES) + 3, modules
    trainer = {".trainer", "..trainer", "minikd.trainer", ".self_distillation", "..self_distillation",
               "minikd.self_distillation"}
    for module in modules:
        imported = _imports(module)
        assert not trainer & imported, (module.name, imported)


def test_checkpoint_modules_import_each_other_in_one_direction():
    package = Path(minikd.__file__).parent / "checkpoint"
    assert sorted(p.stem for p in package.glob("*.py")) == sorted(["__init__", *CHECKPOINT_MODULES])
    for i, name in enumerate(CHECKPOINT_MODULES):
        siblings = {m[1:].split(".")[0] for m in _imports(package / f"{name}.py") if m[:1] == "." and m[:2] != ".."}
        assert siblings <= set(CHECKPOINT_MODULES[:i]), (name, sorted(siblings - set(CHECKPOINT_MODULES[:i])))


def test_optimizer_of_another_class_is_checked_for_structure(run, tmp_path, data):
    raw = decode(run.read_bytes())
    raw["optimizer"]["config"]["name"] = raw["optimizer"]["state"]["type"] = "MySGD"
    ok = tmp_path / "mine.pkl"
    ok.write_bytes(encode(raw))
    assert load_checkpoint(ok).optimizer_config["name"] == "MySGD"
    raw["optimizer"]["state"]["buffers"]["momentum"]["W1"] = np.zeros((2, 2))
    ok.write_bytes(encode(raw))
    with pytest.raises(CheckpointError, match="W1.*shape"):
        load_checkpoint(ok)


def test_adam_state_is_validated(tmp_path, data):
    X, y, _, _, teacher = data
    _trainer(teacher, tmp_path).train(MLP([4, 8, 3], seed=1), X, y, epochs=1, optimizer=Adam(0.01), verbose=0)
    path = tmp_path / "distillation_epoch0001.pkl"
    raw = decode(path.read_bytes())
    raw["optimizer"]["state"]["buffers"]["exp_avg_sq"]["b1"] = -np.ones(8)
    path.write_bytes(encode(raw))
    assert load_checkpoint(path).epoch == 1  # Adam's own checks allow any finite second moment...
    raw["optimizer"]["state"]["buffers"].pop("exp_avg_sq")
    path.write_bytes(encode(raw))
    with pytest.raises(CheckpointError, match="not a valid Adam state"):  # ...but not a missing buffer
        load_checkpoint(path)
