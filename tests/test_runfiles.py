"""Run files: every official validator case, atomic validated writes, scoring, voting."""

from __future__ import annotations

import numpy as np
import pytest

from trainprint.core.errors import TrainprintError
from trainprint.submit.runfiles import (majority_vote, read_run_file, real_unknown_ids, score_run, validate_file,
                                 validate_text, write_run_file)

IDS = ["a", "b", "c"]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("a,1\n\nb,0\nc,1\n", "line 2: empty line"),
        ("a,1\nb,0\nc,1\n\n", "line 4: empty line"),
        ("a,1,0\nb,0\nc,1\n", "line 1: expected 2 comma-separated fields"),
        ("a\nb,0\nc,1\n", "line 1: expected 2 comma-separated fields <id>,<label>, got 1"),
        ("a,1\nb,0\nc,1\nz,0\n", "line 4: unknown id 'z'"),
        ("a,1\nb,0\nc,1\na,0\n", "line 4: id 'a' repeated (first on line 1)"),
        ("a,2\nb,0\nc,1\n", "line 1: label '2' is not 0 or 1"),
        ("a,yes\nb,0\nc,1\n", "line 1: label 'yes' is not 0 or 1"),
        ("a,1.0\nb,0\nc,1\n", "line 1: label '1.0' is not 0 or 1"),
        ("a,1\nb,0\n", "missing id 'c'"),
        ("", "missing id 'a'"),
    ],
)
def test_every_validator_case(text, problem):
    problems = validate_text(text, IDS)
    assert any(p.startswith(problem) for p in problems), problems


def test_valid_files_pass_with_or_without_final_newline():
    assert validate_text("a,1\nb,0\nc,1\n", IDS) == []
    assert validate_text("c,1\r\nb,0\r\na,1", IDS) == []


def test_one_line_per_problem():
    problems = validate_text("a,1\n\nz,0\na,1\n", IDS)
    assert len(problems) == 5  # empty, unknown, repeated, missing b, missing c


def test_write_refuses_an_invalid_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "run.csv"
    with pytest.raises(TrainprintError, match="refusing to write"):
        write_run_file(path, ["a", "b"], np.array([1, 0]), expected_ids=IDS)
    assert list(tmp_path.iterdir()) == []
    write_run_file(path, IDS, np.array([1, 0, 1]), expected_ids=IDS)
    assert path.read_text() == "a,1\nb,0\nc,1\n" and validate_file(path, IDS) == []


def test_score_against_a_key(tmp_path):
    key, run = tmp_path / "key.csv", tmp_path / "run.csv"
    key.write_text("a,1\nb,1\nc,0\nd,0\n")
    run.write_text("d,1\nc,0\nb,1\na,0\n")  # tp=1 fn=1 tn=1 fp=1
    m = score_run(run, key)
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (1, 1, 1, 1)
    assert m["accuracy"] == m["f1"] == 0.5 and m["mcc"] == 0.0 and m["kappa"] == 0.0
    run.write_text("a,1\nb,1\nc,1\nd,1\n")
    assert round(score_run(run, key)["f1"], 4) == 0.6667
    run.write_text("a,1\nb,1\n")
    with pytest.raises(TrainprintError, match="missing id"):
        score_run(run, key)


def test_majority_vote_and_its_tie_rule():
    labels = np.array([[1, 0, 1, 0], [1, 0, 0, 1], [1, 1, 0, 1]])
    assert majority_vote(labels).tolist() == [1, 0, 0, 1]
    even = np.array([[1, 0], [0, 1]])  # both images tied
    assert majority_vote(even).tolist() == [1, 1]  # default: "used"
    assert majority_vote(even, tie_break=np.array([0, 0])).tolist() == [0, 0]


def test_real_unknown_ids_and_reading(tmp_path):
    (tmp_path / "real_unknown").mkdir()
    for name in ("x2.png", "x1.PNG", "notes.txt"):
        (tmp_path / "real_unknown" / name).write_bytes(b"")
    assert real_unknown_ids(tmp_path) == ["x1", "x2"]
    with pytest.raises(TrainprintError, match="real_unknown"):
        real_unknown_ids(tmp_path / "real_unknown")
    (tmp_path / "r.csv").write_text("x1,0\nx2,1\n")
    assert read_run_file(tmp_path / "r.csv", ["x1", "x2"]) == {"x1": 0, "x2": 1}
