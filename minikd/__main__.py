"""``python -m minikd``: distil a small student from a teacher on the bundled digits and print a table.

The experiment (Hinton et al. 2015's "soft targets as a regulariser", in miniature): a teacher MLP
is trained on every training label; then the same small student is trained twice on a small
labelled subset (5 % of the training set by default) — once from the labels alone ("from
scratch"), once by distillation from the teacher's softened outputs on that subset — for several
seeds. The table reports test accuracy (final epoch) as mean ± std over the seeds.

Run ``python -m minikd --help`` for the options.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import MLP, SGD, DistillationCheckpointConfig, DistillationLoss, KnowledgeDistillationTrainer, SupervisedTrainer
from .checkpoint import CheckpointError
from .datasets import label_subset, load_digits, train_test_split
from .trainer import TrainingDivergedError

__all__ = ["main", "build_parser", "run"]


def _hidden(text: str) -> list[int]:
    """Parse "256,256" (or "" for none) into a list of positive ints."""
    text = text.strip()
    if text in ("", "none"):
        return []
    try:
        sizes = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated positive integers like 256,256, got {text!r}"
        ) from None
    if any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive, got {text!r}")
    return sizes


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a {kind.__name__}, got {text!r}") from None
        if not (np.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
        return value

    return parse


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1], got {text!r}") from None
    if not (0 < value <= 1):
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text!r}")
    return value


def _unit(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}") from None
    if not (0 <= value <= 1):
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text!r}")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser of ``python -m minikd``."""
    p = argparse.ArgumentParser(
        prog="python -m minikd",
        description=(
            "Distil a small student MLP from a teacher MLP on the bundled digits data (8x8 images, "
            "10 classes; stratified split, test_size=0.33) and print a results table: the teacher, "
            "the student trained on labels alone, and the student distilled from the teacher, with "
            "parameter counts, test accuracy (final epoch, mean ± std over --seeds), share of the "
            "teacher's accuracy retained, compression ratio and inference time."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--temperature", type=_positive(float), default=4.0, help="softmax temperature T")
    p.add_argument("--alpha", type=_unit, default=0.1, help="weight of the hard (label) loss; 1 - alpha weights T²·KL")
    p.add_argument("--teacher-hidden", type=_hidden, default=[256, 256], help="teacher hidden sizes, e.g. 256,256")
    p.add_argument("--student-hidden", type=_hidden, default=[32], help="student hidden sizes, e.g. 32")
    p.add_argument("--epochs", type=_positive(int), default=60, help="epochs for every model")
    p.add_argument("--batch-size", type=_positive(int), default=32, help="minibatch size")
    p.add_argument("--learning-rate", type=_positive(float), default=0.05, help="SGD learning rate (momentum 0.9)")
    p.add_argument("--label-fraction", type=_fraction, default=0.05,
                   help="share of the training set (stratified) the students see, labels and teacher outputs")
    p.add_argument("--seed", type=_nonnegative_int, default=0,
                   help="seed of the split, the teacher and the first student")
    p.add_argument("--seeds", type=_positive(int), default=5, help="number of student seeds to average over")
    p.add_argument("--checkpoint-dir", type=Path, default=None,
                   help="save checkpoints of every run under this directory (one subdirectory per run)")
    p.add_argument("--resume", action="store_true",
                   help="continue the runs saved in --checkpoint-dir (finished runs are just loaded)")
    p.add_argument("--quiet", action="store_true", help="print only the results table")
    return p


def _time_per_1000(model, X) -> float:
    """Median wall time (ms) of model.forward per 1,000 samples, over 7 repeats."""
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        model.forward(X)
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times)) * 1000.0 / X.shape[0]


def run(args) -> dict:
    """Run the experiment described by parsed ``args``; return the results (and print them)."""
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    if args.resume and args.checkpoint_dir is None:
        raise ValueError("--resume needs --checkpoint-dir (where the runs to continue are saved)")
    t_start = time.perf_counter()
    X, y = load_digits()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.33, seed=args.seed, stratify=True)
    n_classes = 10
    teacher_sizes = [64, *args.teacher_hidden, n_classes]
    student_sizes = [64, *args.student_hidden, n_classes]
    if args.batch_size > X_train.shape[0]:
        raise ValueError(f"--batch-size must be at most the {X_train.shape[0]} training samples, got {args.batch_size}")

    def fit(trainer_cls, model, X_fit, y_fit, name, **kw):
        config = None
        if args.checkpoint_dir is not None:
            config = DistillationCheckpointConfig(args.checkpoint_dir / name, save_every_epochs=10, keep_best_n=1,
                                                  best_metric="loss", prefix=name)
        trainer = trainer_cls(checkpoint_config=config, **kw)
        resume = None
        if args.resume and config is not None and (config.checkpoint_directory / f"{name}_index.json").exists():
            resume = "latest"
        bs = min(args.batch_size, X_fit.shape[0])
        trainer.train(model, X_fit, y_fit, epochs=args.epochs, batch_size=bs,
                      optimizer=SGD(learning_rate=args.learning_rate, momentum=0.9), verbose=0, resume_from=resume)
        return trainer

    say(f"digits: {X_train.shape[0]} training and {X_test.shape[0]} test images, {n_classes} classes")
    t0 = time.perf_counter()
    teacher = MLP(teacher_sizes, seed=args.seed)
    fit(SupervisedTrainer, teacher, X_train, y_train, "teacher", seed=args.seed)
    teacher_acc = float(np.mean(teacher.predict(X_test) == y_test))
    say(f"[1/3] teacher {teacher_sizes}: trained on all {X_train.shape[0]} labels in "
        f"{time.perf_counter() - t0:.1f} s, test accuracy {100 * teacher_acc:.1f} %")

    strategy = DistillationLoss(temperature=args.temperature, alpha=args.alpha)
    scratch_acc, distil_acc = [], []
    t0 = time.perf_counter()
    for k in range(args.seeds):
        seed = args.seed + k
        subset = label_subset(y_train, args.label_fraction, seed=seed) if args.label_fraction < 1 else np.arange(
            y_train.shape[0])
        Xs, ys = X_train[subset], y_train[subset]
        scratch = MLP(student_sizes, seed=seed)
        fit(SupervisedTrainer, scratch, Xs, ys, f"scratch-seed{seed}", seed=seed)
        scratch_acc.append(float(np.mean(scratch.predict(X_test) == y_test)))
        distilled = MLP(student_sizes, seed=seed)
        fit(lambda **kw: KnowledgeDistillationTrainer(teacher, strategy, **kw), distilled, Xs, ys,
            f"distilled-seed{seed}", seed=seed)
        distil_acc.append(float(np.mean(distilled.predict(X_test) == y_test)))
        say(f"{'[2/3]' if k == 0 else '     '} seed {seed}: {len(subset)} labelled samples; student from scratch "
            f"{100 * scratch_acc[-1]:.1f} %, distilled {100 * distil_acc[-1]:.1f} %")
    say(f"[3/3] {args.seeds} seed(s) of both students in {time.perf_counter() - t0:.1f} s")

    rows = []
    t_teacher = _time_per_1000(teacher, X_test)
    for name, model, accs in (("teacher", teacher, [teacher_acc]),
                              ("student, labels only", scratch, scratch_acc),
                              ("student, distilled", distilled, distil_acc)):
        accs = np.array(accs)
        rows.append({
            "model": name, "layers": model.layer_sizes, "parameters": model.num_parameters,
            "accuracy_mean": float(accs.mean()), "accuracy_std": float(accs.std()),
            "retained": float(accs.mean() / teacher_acc),
            "compression": teacher.num_parameters / model.num_parameters,
            "ms_per_1000": t_teacher if model is teacher else _time_per_1000(model, X_test),
        })
    n_sub = len(subset)
    print()
    print(f"Digits test set ({X_test.shape[0]} images). Students saw {n_sub} labelled training images "
          f"({100 * args.label_fraction:g} %); distillation T = {args.temperature:g}, alpha = {args.alpha:g}. "
          f"Accuracy at the final epoch ({args.epochs}), mean ± std over {len(scratch_acc)} seed(s).")
    header = f"{'model':<22} {'layers':<18} {'params':>8} {'test accuracy':>15} {'of teacher':>10} " \
             f"{'compression':>11} {'ms / 1k':>8}"
    print(header)
    print("-" * len(header))
    for r in rows:
        acc = f"{100 * r['accuracy_mean']:.1f} ± {100 * r['accuracy_std']:.1f} %"
        print(f"{r['model']:<22} {str(list(r['layers'])):<18} {r['parameters']:>8,} {acc:>15} "
              f"{100 * r['retained']:>9.1f}% {r['compression']:>10.1f}x {r['ms_per_1000']:>8.3f}")
    gain = 100 * (np.mean(distil_acc) - np.mean(scratch_acc))
    print(f"\nDistillation {'gains' if gain >= 0 else 'loses'} {abs(gain):.1f} points over the same student "
          f"trained on labels alone. Total time {time.perf_counter() - t_start:.1f} s.")
    return {"rows": rows, "teacher_accuracy": teacher_acc, "scratch_accuracy": scratch_acc,
            "distilled_accuracy": distil_acc}


def main(argv=None) -> int:
    """Entry point; returns the exit status (0 success, 1 diverged or interrupted, 2 bad options or inputs)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        run(args)
    except (ValueError, TypeError, CheckpointError) as exc:
        print(f"python -m minikd: error: {exc}", file=sys.stderr)
        return 2
    except TrainingDivergedError as exc:
        print(f"python -m minikd: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("python -m minikd: interrupted; saved checkpoints (if any) are intact, continue with --resume",
              file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
