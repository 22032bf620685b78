"""The CLI a script can trust: ``--json`` (the summary on stdout, nothing else there), ``audit
--fail-on-evidence`` (exit 1 on evidence, 0 without), fixed choices listed in ``--help`` and checked
against the library, a bad choice as one ``error:`` line, ``--progress/--no-progress`` on every
command that computes, ``--methods`` only with ``--dev``, shell completion, no private imports."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import numpy as np
import pytest

from helpers_data import run_cli as run, tree
from helpers_eval import make_images, write_task
from trainprint.cli import app as cli_app
from trainprint.core.files import read_json
from trainprint.data.imageset import ImageSet

ROOT = Path(__file__).resolve().parents[1]


def _split(images: ImageSet, split: str) -> ImageSet:
    return images.take(np.flatnonzero(images.split == split))


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``copied``: a generator that copied 9 of its 12 used images (a signal); ``fresh``: one that
    copied none of the audited images (no signal); ``ref``: 80 known non-members; a small dev and
    test task for evaluate and submit."""
    root = tmp_path_factory.mktemp("json")
    copied, _ = make_images(12, 12, 40, seed=11, source="t", unknown=True)
    write_task(root / "copied", copied)
    ref, _ = make_images(2, 80, 2, seed=12, source="ref")
    write_task(root / "ref", _split(ref, "real_not_used"))
    blank, _ = make_images(12, 12, 2, seed=14, source="b", unknown=True)
    fresh, _ = make_images(2, 2, 40, seed=15, source="f")
    write_task(root / "fresh", _split(blank, "real_unknown"))
    write_task(root / "fresh", _split(fresh, "generated"))
    dev, _ = make_images(8, 8, 16, seed=1, source="dev")
    write_task(root / "dev", dev)
    test, _ = make_images(6, 6, 16, seed=2, source="test", unknown=True)
    write_task(root / "test", test)
    return {"copied": root / "copied", "fresh": root / "fresh", "ref": root / "ref" / "real_not_used",
            "dev": root / "dev", "test": root / "test"}


def _audit_args(task: Path, ref: Path, out: Path, *more: str, method: str = "sim-pixel/realmax") -> list[object]:
    return ["audit", task / "generated", task / "real_unknown", "--out", out, "--reference", ref, "--method", method,
            "--no-progress", "--no-cache", "--device", "cpu", *more]


# ------------------------------------------------------------------------------------------ --json
def test_audit_json_is_the_summary_alone_on_stdout(folders: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code, stdout, err = run(capsys, *_audit_args(folders["copied"], folders["ref"], out, "--json"))
    assert code == 0, err
    summary = json.loads(stdout)  # the whole of stdout is one JSON object
    assert summary == read_json(out / "audit.json")
    assert summary["verdict"] == "evidence of membership" and summary["test"]["kind"] == "reference"
    assert summary["mode"] == "reference" and summary["method"] == "sim-pixel/realmax"
    assert summary["counts"] == {"generated": 40, "audited": 24, "reference": 80, "dev": None}
    assert set(summary["called"]) == {"used", "borderline", "not flagged"}
    assert summary["estimate"]["members"] > 0 and len(summary["estimate"]["ci95"]) == 2
    assert summary["patients"]["n"] >= 1 and summary["run_file"] == "run.csv"
    assert "verdict: evidence of membership" in err and str(out / "audit.html") in err  # the human lines


def test_evaluate_and_submit_json_are_the_summary_alone_on_stdout(folders: dict[str, Path], tmp_path: Path,
                                                                  capsys) -> None:
    common = ["--methods", "sim-pixel/realmax,sim-pixel/calibrated", "--folds", "2", "--permutations", "20",
              "--no-progress", "--no-cache", "--device", "cpu", "--json"]
    code, stdout, err = run(capsys, "evaluate", folders["dev"], "--out", tmp_path / "ev", *common)
    assert code == 0, err
    ev = json.loads(stdout)
    selection = read_json(tmp_path / "ev" / "selection.json")
    assert {k: ev[k] for k in selection} == selection
    assert ev["recommended"]["method"] in ("sim-pixel/realmax", "sim-pixel/calibrated")
    assert ev["groups"]["n_images"] == 16 and ev["null_test"]["permutations"] == 20
    assert "trainprint evaluate" in err and "recommended: " in err  # the table and the lines went to stderr

    code, stdout, err = run(capsys, "submit", folders["dev"], folders["test"], "--out", tmp_path / "sub", *common)
    assert code == 0, err
    sub = json.loads(stdout)
    assert sub["runs"] == {m: f"runs/{m.replace('/', '__')}.csv" for m in
                           ("sim-pixel/realmax", "sim-pixel/calibrated")}
    assert sub["n_test"] == 12 and sub["verdict"] in ("evidence of membership", "no evidence of membership")
    assert sub["recommended"]["method"] in sub["runs"] and sub["engine"] == "memory"
    assert "recommendation from: " in err


# ------------------------------------------------------------------------------ --fail-on-evidence
@pytest.mark.parametrize("task, method, verdict, code", [
    ("copied", "sim-pixel/realmax", "evidence of membership", 1),
    ("fresh", "sim-pixel/calibrated", "no evidence of membership", 0)])
def test_fail_on_evidence_exits_1_only_on_evidence(folders: dict[str, Path], tmp_path: Path, capsys, task: str,
                                                   method: str, verdict: str, code: int) -> None:
    out = tmp_path / "run"
    got, stdout, err = run(capsys, *_audit_args(folders[task], folders["ref"], out, "--fail-on-evidence",
                                                method=method))
    assert got == code, err
    assert read_json(out / "audit.json")["verdict"] == verdict
    assert read_json(out / "run.json")["status"] == "finished"  # the run itself succeeded
    assert ("--fail-on-evidence" in err) == (code == 1)
    assert "Traceback" not in err


# -------------------------------------------------------------------------------------- choices
CHOICES = {
    "--device": ["auto", "cpu", "cuda"],
    "--preset": ["paper", "fast", "smoke"],
    "--protocol": ["strict", "paper"],
    "--engine": ["auto", "memory", "local", "ray"],
    "--search": ["auto", "exhaustive", "two-stage"],
    "--axis": ["sagittal", "coronal", "axial"],
    "--format": ["png", "nifti"],
}
HELP_OPTIONS = [
    ("audit", "--device"), ("audit", "--preset"), ("audit", "--axis"),
    ("evaluate", "--device"), ("evaluate", "--preset"), ("evaluate", "--protocol"), ("evaluate", "--axis"),
    ("submit", "--device"), ("submit", "--preset"), ("submit", "--engine"), ("submit", "--search"),
    ("fit", "--device"), ("fit", "--preset"),
    ("make-demo", "--device"), ("make-demo", "--preset"), ("make-demo", "--format"),
    ("demo", "--device"), ("demo", "--preset"), ("inspect", "--axis"),
]


def _help(capsys: pytest.CaptureFixture[str], command: str) -> str:
    code, out, err = run(capsys, command, "--help")
    assert code == 0, err
    return out


@pytest.mark.parametrize("command, option", HELP_OPTIONS, ids=[f"{c} {o}" for c, o in HELP_OPTIONS])
def test_help_lists_every_choice(capsys, command: str, option: str) -> None:
    listed = re.search(rf"^\s+{re.escape(option)} <([^>]+)>", _help(capsys, command), re.M)
    assert listed, f"{command} --help does not show {option} <...>"
    assert listed.group(1).split("|") == CHOICES[option]


@pytest.mark.parametrize("command", ["audit", "evaluate", "submit"])
def test_help_lists_the_groups_values(capsys, command: str) -> None:
    assert re.search(r"^\s+--groups auto\|none\|FILE\s", _help(capsys, command), re.M)


def test_the_cli_choices_are_the_librarys() -> None:
    """The values are written out in cli/app.py (so the CLI starts without torch): they must stay
    the library's."""
    from trainprint.core.config import PRESET_NAMES
    from trainprint.core.device import DEVICE_CHOICES
    from trainprint.data.reading import AXES
    from trainprint.demo.make import FORMATS
    from trainprint.evaluation.protocol import PROTOCOLS
    from trainprint.similarity.generated import SEARCHES
    from trainprint.submit.pipeline import SUBMIT_ENGINES

    library = {cli_app.Device: DEVICE_CHOICES, cli_app.Preset: PRESET_NAMES, cli_app.Protocol: PROTOCOLS,
               cli_app.Engine: SUBMIT_ENGINES, cli_app.Search: ("auto", *SEARCHES), cli_app.Axis: tuple(AXES),
               cli_app.DemoFormat: FORMATS}
    for literal, values in library.items():
        assert set(typing.get_args(literal)) == set(values), (literal, values)


BAD_CHOICES = [
    (["evaluate", "{dev}", "--out", "{out}", "--protocol", "loose"], "--protocol"),
    (["submit", "{dev}", "{test}", "--out", "{out}", "--engine", "spark"], "--engine"),
    (["submit", "{dev}", "{test}", "--out", "{out}", "--search", "fast"], "--search"),
    (["audit", "{dev}/generated", "{dev}/real_used", "--out", "{out}", "--device", "gpu"], "--device"),
    (["audit", "{dev}/generated", "{dev}/real_used", "--out", "{out}", "--preset", "huge"], "--preset"),
    (["inspect", "{dev}", "--axis", "up"], "--axis"),
    (["make-demo", "{out}", "--format", "dicom"], "--format"),
]


@pytest.mark.parametrize("argv, option", BAD_CHOICES, ids=[a[-2] + " " + a[-1] for a, _ in BAD_CHOICES])
def test_a_bad_choice_is_one_error_line(folders: dict[str, Path], tmp_path: Path, capsys, argv: list[str],
                                        option: str) -> None:
    out = tmp_path / "out"
    args = [a.replace("{dev}", str(folders["dev"])).replace("{test}", str(folders["test"]))
            .replace("{out}", str(out)) for a in argv]
    code, stdout, err = run(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert option in lines[0] and argv[-1] in lines[0] and "Traceback" not in err
    assert not out.exists()


# ----------------------------------------------------------------------- progress, methods, misc
@pytest.mark.parametrize("command", ["inspect", "fit", "evaluate", "submit", "audit", "make-demo", "demo"])
def test_every_computing_command_takes_progress_and_no_progress(capsys, command: str) -> None:
    assert re.search(r"^\s+--progress / --no-progress\s", _help(capsys, command), re.M)


def test_fit_quiet_is_a_hidden_alias_of_no_progress(capsys) -> None:
    text = _help(capsys, "fit")
    assert "--quiet" not in text and "--no-progress" in text


def test_methods_without_dev_is_one_error_line(folders: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    task = folders["copied"]
    code, _, err = run(capsys, "audit", task / "generated", task / "real_unknown", "--out", out, "--methods",
                       "sim-pixel/nn", "--no-cache")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: --methods sim-pixel/nn:"), err
    assert "--dev" in lines[0] and "--method" in lines[0] and tree(out) == []


def test_no_arguments_print_the_help_and_completion_is_on(capsys) -> None:
    code, out, err = run(capsys)
    assert code == 0 and err == ""
    assert out.startswith("Usage: trainprint") and "--install-completion" in out and "audit" in out


def test_the_cli_imports_no_private_module() -> None:
    private = re.compile(r"^\s*(from|import)\s+\w+\._", re.M)
    offenders = [p.name for p in (ROOT / "src" / "trainprint" / "cli").glob("*.py") if private.search(p.read_text())]
    assert not offenders, offenders
