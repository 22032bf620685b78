"""``run_demo``: the main job end to end on the built-in demo data, one stage after another.

Stages (each timed in ``OUT/run.json``):
    1. data     the demo task folder in ``OUT/data``: for seed 0 and the ``fast`` preset a copy of
                the one shipped in the package (``BUILTIN``, made by ``make-demo --seed 0``), else
                (or with ``regenerate``) made by ``make_demo``, which trains the generator; reused
                when an earlier run put it there with the same seed, preset and size
    2. inspect  read dev and test through the data layer, as ``trainprint inspect`` does
    3. evaluate strict (leak-free) K-fold CV of ``DEMO_METHODS`` on the dev set, folds by sibling
                groups inferred from the images (compared with the demo's patients: adjusted Rand
                index), the selection-aware estimate and the null test's verdict -> ``OUT/evaluate``
    4. submit   fit those methods on the whole dev set, answer the test set -> ``OUT/submit`` (run
                files, the vote of every run, the recommended method); the paper's nine Table 2 runs
                are left to ``trainprint submit --methods table2`` (six more extractor fits: over
                a minute here, which the demo's two-minute budget has no room for)
    5. score    every run file of stage 4 against the demo's own answer key -> ``OUT/submit/test_scores.csv``
    6. report   the self-contained HTML report of the evaluation -> ``OUT/evaluate/report.html``
    7. audit    the audit of the test folder as a user without labels would run it: the default
                label-free method, the dev set's not-used images as the known non-members
                (``--reference``), p-values, the global test and the estimated number of members,
                checked against the demo's answer key -> ``OUT/audit/audit.html``

The result is returned as values (``DemoResult``); the CLI prints them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sklearn.metrics import adjusted_rand_score

from trainprint.core import files as tio
from trainprint.core.config import get_preset
from trainprint.core.device import resolve_device
from trainprint.core.errors import TrainprintError
from trainprint.core.runs import RUN_FILE, RunRecord, check_out_dir
from trainprint.core.seeding import check_seed
from trainprint.demo.make import DEMO_FILE, KEY_FILE, PRESETS, make_demo

#: the demo data shipped in the package: ``make-demo --seed 0 --preset fast`` (tests/test_demo.py
#: checks it against the code; benchmarks/check_builtin_demo.py retrains and compares by hand)
BUILTIN = Path(__file__).resolve().parent / "builtin"
BUILTIN_SEED, BUILTIN_PRESET = 0, "fast"

#: What the demo evaluates: the paper's best extractor (Vector-Net(1,2)) with two of the paper's
#: classifiers, VCMI-style label-free similarity rules, and the same scores with a fitted threshold.
#: (Until issue 23 also a DAE(G,U,NU) row, 13 s of training per fold: cut so that the whole demo runs
#: in under two minutes; docs/demo.md has the times.)
DEMO_METHODS = (
    "vectornet-12/real/svm-2",
    "vectornet-12/real/knn-5",
    "sim-pixel/nn",
    "sim-ssim/realmax",
    "sim-ssim/threshold",
    "sim-vectornet-12/threshold",
)
DEMO_FOLDS = 5  # 96 + 96 dev real images of 24 + 24 patients: 5 folds hold out about 5 + 5 patients each


@dataclass
class DemoResult:
    """What ``run_demo`` did: summary rows for the results table and the files it wrote."""

    out: Path
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (stage, measure, value)
    files: dict[str, Path] = field(default_factory=dict)  # what -> where
    inspect_lines: list[str] = field(default_factory=list)  # the ``trainprint inspect`` summary
    verdict_lines: list[str] = field(default_factory=list)  # groups, recommendation, estimate, verdict
    timings_s: dict[str, float] = field(default_factory=dict)


def run_demo(
    out: str | Path = "trainprint-demo",
    seed: int = 0,
    device: str = "auto",
    *,
    preset: str = "fast",
    progress: bool = False,
    regenerate: bool = False,
) -> DemoResult:
    """Run every stage that exists on demo data in ``out/data``; returns what to show.

    ``regenerate``: make the data with ``make_demo`` (training the generator) even where the
    package ships them. ``out`` must be new, empty or an earlier demo run (which is resumed)."""
    out = Path(out)
    check_seed(seed)
    resolve_device(device)
    get_preset(PRESETS, preset, "demo")
    check_out_dir(out)
    _check_demo_out(out)
    with RunRecord(out, command="demo", config={"preset": preset, "device": device}, seed=seed) as rec:
        result = DemoResult(out)
        data = out / "data"

        with rec.stage("data"):
            source = "reused" if _reusable(data, seed, preset, regenerate) else None
            if source is None and not regenerate and (seed, preset) == (BUILTIN_SEED, BUILTIN_PRESET) \
                    and (BUILTIN / DEMO_FILE).is_file():
                _copy_builtin(data)
                source = "copied from the package (make-demo --seed 0 --preset fast)"
            elif source is None:
                make_demo(data, seed=seed, device=device, preset=preset, force=True, progress=progress)
                source = "made (generator trained)"
        info = tio.read_json(data / DEMO_FILE)
        sig = info["membership_signal"]
        result.rows += [
            ("data", "demo folder", source),
            ("data", "dev images (generated / used / not used)",
             " / ".join(str(info["counts"]["dev"][k]) for k in ("generated", "real_used", "real_not_used"))),
            ("data", "test images (generated / real unknown)",
             " / ".join(str(info["counts"]["test"][k]) for k in ("generated", "real_unknown"))),
            ("data", "generator training time (s)" + (", when the package's data were made"
                                                       if info.get("copied_from") else ""),
             f"{info['generator']['train_seconds']:.1f}"),
            ("data", "nearest-generated distance AUC, dev / test", f"{sig['dcr_auc_dev']:.3f} / {sig['dcr_auc_test']:.3f}"),
        ]
        result.files.update({"demo data": data, "test answer key": data / KEY_FILE,
                             "real vs generated samples": data / "samples.png"})

        with rec.stage("inspect"):
            from trainprint.data.inspection import inspect_folder

            report = inspect_folder(data, progress=progress)
        result.inspect_lines = report.lines()
        result.rows.append(("inspect", "problems found", str(len(report.all_problems))))

        from trainprint.evaluation.evaluate import EvalConfig, evaluate
        from trainprint.evaluation.selection import describe
        from trainprint.methods import BASELINES
        from trainprint.report.build import build_report
        from trainprint.submit.pipeline import SubmitConfig, submit
        from trainprint.submit.runfiles import score_run

        eval_dir, submit_dir = out / "evaluate", out / "submit"
        # Folds by sibling group, inferred from the images as for any task without patient ids
        # (--groups auto); make-demo's patients.csv is the truth they are compared with.
        patients = {r["id"]: r["patient"] for r in tio.read_csv(data / "patients.csv") if r["folder"] == "dev"}
        per_class = [len({p for i, p in patients.items() if i.startswith(s + "_")}) for s in ("real_used", "real_not_used")]
        folds = min(DEMO_FOLDS, *per_class)  # smoke data has 2 patients per class
        with rec.stage("evaluate"):
            rows = evaluate(EvalConfig(dev_dir=str(data / "dev"), preset=preset, methods=DEMO_METHODS + BASELINES,
                                       folds=folds, seed=seed, device=device), eval_dir, progress=progress)
        groups = {r["id"]: r["group"] for r in tio.read_csv(eval_dir / "groups.csv")}
        ids = sorted(groups)
        ari = adjusted_rand_score([patients[i] for i in ids], [groups[i] for i in ids])
        record = tio.read_json(eval_dir / "run.json")
        result.rows.append(("evaluate", "inferred sibling groups vs the demo's patients",
                            f"{record['groups']['n_groups']} groups for {len(set(patients.values()))} patients, "
                            f"adjusted Rand index {ari:.3f}"))
        for row in rows:
            result.rows.append((f"evaluate ({folds}-fold strict CV, inferred groups)", row["method"],
                                f"acc {_f(row['accuracy_mean'])}  F1 {_f(row['f1_mean'])}  "
                                f"MCC {_f(row['mcc_mean'])}  AUC {_f(row['auc_mean'])}"))
        result.verdict_lines = describe(record, record["groups"])

        with rec.stage("submit"):
            shared = EvalConfig(dev_dir=str(data / "dev"), methods=DEMO_METHODS, preset=preset,
                                folds=folds, seed=seed, device=device)
            summary = submit(SubmitConfig(test_dir=str(data / "test"), evaluation=shared, from_run=str(eval_dir)),
                             submit_dir, progress=progress)

        tr = summary["transfer"]
        result.rows.append(("submit", "generated images per real image, dev / test (transfer check)",
                            f"{tr['dev_generated_per_real']:.2f} / {tr['test_generated_per_real']:.2f}"
                            + (f"; caution: {tr['caution']}" if tr["caution"] else "; no caution")))

        with rec.stage("score"):
            run_files = {m: submit_dir / f for m, f in summary["runs"].items()}
            run_files["vote_all (majority of every run)"] = submit_dir / "vote_all.csv"
            run_files[f"recommended ({summary['recommended']['method']})"] = submit_dir / "recommended.csv"
            scored = []
            for name, path in run_files.items():
                metrics = score_run(path, data / KEY_FILE)
                scored.append({"run": name, "file": str(path.relative_to(submit_dir)), **metrics})
                result.rows.append(("test set vs answer key", name,
                                    f"acc {_f(metrics['accuracy'])}  F1 {_f(metrics['f1'])}  MCC {_f(metrics['mcc'])}"))
            tio.write_csv(submit_dir / "test_scores.csv", scored, list(scored[0]))
            est = summary["selection_aware"]
            test_acc = next(s["accuracy"] for s in scored if s["file"] == "recommended.csv")
            result.rows.append(("test set vs answer key", "selection-aware CV accuracy vs the recommended run's",
                                f"{est['accuracy']:.3f} [95% {est['accuracy_ci95'][0]:.3f}, "
                                f"{est['accuracy_ci95'][1]:.3f}] vs {test_acc:.3f}"))

        with rec.stage("report"):
            report = build_report(eval_dir, seed=seed)

        with rec.stage("audit"):
            audited = _audit(data, out / "audit", seed, device, result, progress)

        result.files.update({
            "evaluation (results.csv, folds.csv, groups.csv, selection.json, table1.md)": eval_dir,
            "run files (runs/, vote_all.csv, recommended.csv, recommended.json)": submit_dir,
            "test-set scores against the key": submit_dir / "test_scores.csv",
            "HTML report": report,
        })
        summary_for_record = {"adjusted_rand_index": round(float(ari), 4), "verdict": summary["verdict"],
                              "selection_aware": est, "recommended": summary["recommended"],
                              "recommended_test_accuracy": test_acc, "transfer": tr}
        result.files["run record"] = out / "run.json"
        result.files["audit of the test folder (audit.csv, audit.json, run.csv)"] = out / "audit"
        result.files["audit page"] = audited
        summary_for_record["audit"] = tio.read_json(out / "audit" / "audit.json")["verdict"]
        result.timings_s = dict(rec.data["timings_s"])
        rec.finish(results={stage + ": " + what: value for stage, what, value in result.rows}, **summary_for_record)
        return result


def _audit(data: Path, out: Path, seed: int, device: str, result: DemoResult, progress: bool) -> Path:
    """``trainprint audit data/test/generated data/test/real_unknown --reference
    data/dev/real_not_used``, its page, and its answers scored against the demo's key."""
    from trainprint.audit.config import DEV_METHODS, AuditConfig
    from trainprint.audit.pipeline import audit
    from trainprint.evaluation.config import EvalConfig
    from trainprint.methods import BASELINES
    from trainprint.report.audit_page import build_audit_page
    from trainprint.submit.runfiles import read_run_file, score_run

    summary = audit(AuditConfig(generated_dir=str(data / "test" / "generated"),
                                real_dir=str(data / "test" / "real_unknown"),
                                evaluation=EvalConfig(dev_dir="", methods=DEV_METHODS + BASELINES, seed=seed,
                                                      device=device),
                                reference_dir=str(data / "dev" / "real_not_used")),
                    out, progress=progress, page=build_audit_page)
    page = out / "audit.html"
    key = read_run_file(data / KEY_FILE)
    verdict, est = summary.verdict_of(), summary.members()
    result.rows += [
        ("audit (test folder, label-free)", "verdict", f"{summary.verdict} ({summary.method}, "
                                                       f"p = {verdict.p_value:.3g})"),
        ("audit (test folder, label-free)", "estimated members vs the key",
         f"{est.members:.1f} [95% {est.low:.1f}, {est.high:.1f}] vs {sum(key.values())} of {len(key)}"),
        ("audit (test folder, label-free)", "called used / borderline",
         f"{summary.called['used']} / {summary.called['borderline']}"),
    ]
    m = score_run(out / "run.csv", data / KEY_FILE)
    result.rows.append(("audit (test folder, label-free)", "run.csv vs the key",
                        f"precision {_f(m['precision'])}  recall {_f(m['recall'])}  ({m['tp'] + m['fp']} called used)"))
    return page


def _f(v: object) -> str:
    try:
        return f"{float(v):.3f}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(v)


def _reusable(data: Path, seed: int, preset: str, regenerate: bool = False) -> bool:
    """Whether ``data`` holds a finished demo made with this seed and preset at the default size
    (with ``regenerate``: one whose generator was trained here, not the package's copy)."""
    try:
        info = tio.read_json(data / DEMO_FILE)
    except (OSError, ValueError):
        return False
    if regenerate and info.get("copied_from") == "package":
        return False
    return info.get("seed") == seed and info.get("preset") == preset and info["config"]["size"] == 64


def _check_demo_out(out: Path) -> None:
    """``out`` is new, empty, or an earlier ``trainprint demo`` run (its ``run.json`` says so)."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        command = tio.read_json(out / RUN_FILE).get("command")
    except (OSError, ValueError, AttributeError):
        command = None
    if command != "demo":
        raise TrainprintError(f"--out {out}: folder is not empty and is not an earlier demo run (no run.json of "
                              "trainprint demo); choose a new or empty folder")


def _copy_builtin(data: Path) -> None:
    """The package's demo folder copied to ``data`` (replacing what is there), its ``demo.json``
    marked ``copied_from: package``. Built in a hidden sibling and renamed into place."""
    data.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{data.name}.", suffix=".partial", dir=data.parent))
    try:
        shutil.copytree(BUILTIN, tmp / "data", ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.pyc"),
                        copy_function=shutil.copyfile)
        info = tio.read_json(tmp / "data" / DEMO_FILE)
        tio.write_json(tmp / "data" / DEMO_FILE, {**info, "copied_from": "package"})
        old = tmp / "old"
        if data.exists():
            os.replace(data, old)
        os.replace(tmp / "data", data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
