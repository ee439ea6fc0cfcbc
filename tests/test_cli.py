"""The ``python -m minikd`` command: end to end, the headline result, checkpoints, bad options."""

import subprocess
import sys

import pytest

from minikd.__main__ import build_parser, main, run

SMALL = ["--epochs", "4", "--teacher-hidden", "32", "--student-hidden", "8", "--seeds", "2", "--quiet"]


def test_runs_end_to_end_and_prints_table(capsys):
    assert main(SMALL) == 0
    out = capsys.readouterr().out
    for needle in ("teacher", "student, labels only", "student, distilled", "params", "test accuracy",
                   "compression", "ms / 1k", "mean ± std over 2 seed(s)"):
        assert needle in out, needle
    # --quiet prints the table only, no progress lines
    assert "[1/3]" not in out


def test_progress_lines_without_quiet(capsys):
    assert main([a for a in SMALL if a != "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "[1/3] teacher" in out and "[3/3]" in out


@pytest.mark.slow
def test_headline_result():
    """The README's headline result, loosely: 5 % of the labels, T = 4, alpha = 0.1, 60 epochs, 5 seeds.

    Measured on our machine: teacher 97.0 %, from scratch 85.0 ± 2.3 %, distilled 91.0 ± 1.1 %.
    """
    args = build_parser().parse_args(["--quiet"])
    result = run(args)
    assert result["teacher_accuracy"] >= 0.965
    scratch = sum(result["scratch_accuracy"]) / 5
    distilled = sum(result["distilled_accuracy"]) / 5
    assert distilled - scratch >= 0.04, (scratch, distilled)
    assert distilled >= 0.88


def test_checkpoints_and_resume(tmp_path, capsys):
    args = SMALL + ["--checkpoint-dir", str(tmp_path)]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert (tmp_path / "teacher" / "teacher_index.json").exists()
    assert (tmp_path / "distilled-seed0" / "distilled-seed0_index.json").exists()
    # running again into the same directory without --resume would mix two runs: refused
    assert main(args) == 2
    assert "resume" in capsys.readouterr().err
    # --resume loads the finished runs: the same table (timings aside)
    assert main(args + ["--resume"]) == 0
    second = capsys.readouterr().out

    def accuracies(text):
        return [line[:60] for line in text.splitlines() if line.startswith(("teacher", "student"))]

    assert accuracies(first) == accuracies(second)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--temperature", "0"], "--temperature"),
        (["--temperature", "abc"], "--temperature"),
        (["--alpha", "1.5"], "--alpha"),
        (["--epochs", "0"], "--epochs"),
        (["--batch-size", "-3"], "--batch-size"),
        (["--learning-rate", "nan"], "--learning-rate"),
        (["--label-fraction", "0"], "--label-fraction"),
        (["--student-hidden", "32,x"], "--student-hidden"),
        (["--teacher-hidden", "0"], "--teacher-hidden"),
        (["--seed", "-1"], "--seed"),
        (["--no-such-option"], "unrecognized"),
    ],
)
def test_bad_options_exit_2_with_message(argv, needle, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert needle in capsys.readouterr().err


def test_bad_combinations_exit_2(capsys):
    assert main(SMALL + ["--resume"]) == 2
    assert "--checkpoint-dir" in capsys.readouterr().err
    assert main(SMALL + ["--batch-size", "5000"]) == 2
    assert "--batch-size" in capsys.readouterr().err


def test_help_and_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "minikd", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for option in ("--temperature", "--alpha", "--teacher-hidden", "--student-hidden", "--epochs", "--batch-size",
                   "--learning-rate", "--label-fraction", "--seed", "--checkpoint-dir", "--resume", "--quiet"):
        assert option in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "minikd", "--alpha", "2"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--alpha" in bad.stderr
