"""``run_demo``: the main job end to end on the built-in demo data, one stage after another.

Stages (each timed in ``OUT/run.json``):
    1. data     make the demo task folder in ``OUT/data`` (reused when an earlier run made it with
                the same seed, preset and size)
    2. inspect  read dev and test through the data layer, as ``trainprint inspect`` does
    (later issues add: fit, evaluate, submit, report)

The result is returned as values (``DemoResult``); the CLI prints them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trainprint import io as tio
from trainprint.demo import DEMO_FILE, KEY_FILE, make_demo
from trainprint.runs import RunRecord


@dataclass
class DemoResult:
    """What ``run_demo`` did: summary rows for the results table and the files it wrote."""

    out: Path
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (stage, measure, value)
    files: dict[str, Path] = field(default_factory=dict)  # what -> where
    inspect_lines: list[str] = field(default_factory=list)  # the ``trainprint inspect`` summary
    timings_s: dict[str, float] = field(default_factory=dict)


def run_demo(
    out: str | Path = "trainprint-demo",
    seed: int = 0,
    device: str = "auto",
    *,
    preset: str = "fast",
    progress: bool = False,
) -> DemoResult:
    """Run every stage that exists on demo data made in ``out/data``; returns what to show."""
    out = Path(out)
    rec = RunRecord(out, command="demo", config={"preset": preset, "device": device}, seed=seed)
    result = DemoResult(out)
    data = out / "data"

    with rec.stage("data"):
        reused = _reusable(data, seed, preset)
        if not reused:
            make_demo(data, seed=seed, device=device, preset=preset, force=True, progress=progress)
    info = tio.read_json(data / DEMO_FILE)
    sig = info["membership_signal"]
    result.rows += [
        ("data", "demo folder", "reused" if reused else "made"),
        ("data", "dev images (generated / used / not used)",
         " / ".join(str(info["counts"]["dev"][k]) for k in ("generated", "real_used", "real_not_used"))),
        ("data", "test images (generated / real unknown)",
         " / ".join(str(info["counts"]["test"][k]) for k in ("generated", "real_unknown"))),
        ("data", "generator training time (s)", f"{info['generator']['train_seconds']:.1f}"),
        ("data", "nearest-generated distance AUC, dev / test", f"{sig['dcr_auc_dev']:.3f} / {sig['dcr_auc_test']:.3f}"),
    ]
    result.files.update({"demo data": data, "test answer key": data / KEY_FILE,
                         "real vs generated samples": data / "samples.png"})

    with rec.stage("inspect"):
        from trainprint.data_inspect import inspect_folder

        report = inspect_folder(data, progress=progress)
    result.inspect_lines = report.lines()
    result.rows.append(("inspect", "problems found", str(len(report.all_problems))))

    # Later stages (fit, evaluate, submit, report) go here, each in its own ``rec.stage``.

    result.files["run record"] = out / "run.json"
    result.timings_s = dict(rec.data["timings_s"])
    rec.finish(results={stage + ": " + what: value for stage, what, value in result.rows})
    return result


def _reusable(data: Path, seed: int, preset: str) -> bool:
    """Whether ``data`` holds a finished demo made with this seed and preset at the default size."""
    try:
        info = tio.read_json(data / DEMO_FILE)
    except (OSError, ValueError):
        return False
    return info.get("seed") == seed and info.get("preset") == preset and info["config"]["size"] == 64
