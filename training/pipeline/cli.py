"""Command line: `python -m training {train,analyze,import,report,verify,list}`.

    python -m training train --preset default [--out artifacts] [--suite NAME]
                             [--set train.lr=1e-3 ...] [--runs attn2,attn1] [--seeds 2] [--resume]
                             [--device cpu] [--no-analyze] [--lanes N]
    python -m training analyze artifacts/<suite>
    python -m training import SOURCE --suite NAME [--run NAME] [--out artifacts] [--every K]
                              [--text PATH] [--tokenizer PATH] [--ctx N] [--set analysis.KEY=VALUE]
    python -m training report artifacts/<suite>
    python -m training verify artifacts/<suite>
    python -m training list [--out artifacts]
    torchrun --nproc_per_node=N -m training train ...     # data-parallel (training.pipeline.distributed)
    torchrun --nproc_per_node=N -m training analyze ...   # each rank a share of the snapshots

Bad input (an unknown preset, key or run, a value of the wrong type) exits with status 2 and a
one-line message that names it; no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
from pathlib import Path

from training.core.allocator import keep_buffers_in_heap
from training.core.artifacts import schema
from training.core.config import ConfigError
from training.pipeline import presets
from training.pipeline.config import apply_overrides, parse_value
from training.pipeline.locks import LockError, suite_lock


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training", description="Train and analyse suites of small transformers."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a suite of models from a preset")
    train.add_argument("--preset", required=True, help=f"one of: {', '.join(presets.names())}")
    train.add_argument("--out", type=Path, default=Path("artifacts"), help="artifacts folder (default: artifacts)")
    train.add_argument("--suite", help="suite name (default: the preset's name)")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a preset value, e.g. train.lr=1e-3 (repeatable)",
    )
    train.add_argument("--runs", help="comma-separated subset of the preset's runs")
    train.add_argument(
        "--seeds",
        default="1",
        metavar="N",
        help="train each chosen run R with N seeds: R, then R-seed1 .. R-seed{N-1} with train.seed + k (default: 1)",
    )
    train.add_argument(
        "--resume", action="store_true", help="continue interrupted runs from their last resume checkpoint"
    )
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")

    train.add_argument(
        "--no-analyze", action="store_true", help="skip the analysis (and claims report) that follows each run"
    )
    train.add_argument(
        "--no-live-metrics", action="store_true", help="do not measure the live metrics at every snapshot"
    )
    train.add_argument(
        "--lanes",
        metavar="N",
        help="after the first run, train N runs side by side, each with train.threads // N threads (default: "
        "the preset's `lanes`)",
    )
    train.add_argument("--lane", default="0", help=argparse.SUPPRESS)  # set on the lanes --lanes starts

    analyze = sub.add_parser("analyze", help="measure every snapshot not yet analysed (incremental)")
    analyze.add_argument("suite_dir", type=Path, help="e.g. artifacts/default")
    analyze.add_argument(
        "--runs", help="comma-separated subset of runs (default: all); suite tables are rebuilt either way"
    )
    analyze.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="analysis.KEY=VALUE",
        help="override an analysis setting, or an LLC one (llc.KEY=VALUE; repeatable)",
    )

    imp = sub.add_parser(
        "import",
        help="import a checkpoint series (Trainer output, stepN/ revisions, TransformerLens .pth) and analyse it",
    )
    imp.add_argument("source", type=Path, help="the folder that holds the checkpoints")
    imp.add_argument("--suite", required=True, help="suite to write (new, or an imported suite with this tokenizer)")
    imp.add_argument("--run", help="run name (default: the source folder's name)")
    imp.add_argument("--out", type=Path, default=Path("artifacts"), help="artifacts folder (default: artifacts)")
    imp.add_argument("--every", default="1", metavar="K", help="import every K-th checkpoint (and the last)")
    imp.add_argument("--text", help="probe text: a file, a folder, or hf:PATH (save_to_disk); default: stdlib")
    imp.add_argument(
        "--tokenizer", type=Path, help="the model's tokenizer (folder or tokenizer.json)"
    )  # not our layout
    imp.add_argument("--ctx", default="512", metavar="N", help="probe context length (at most the model's)")
    imp.add_argument("--tokens-per-step", metavar="N", help="tokens per step where the source does not record them")
    imp.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="analysis.KEY=VALUE",
        help="override an analysis setting (repeatable)",
    )
    imp.add_argument("--no-analyze", action="store_true", help="only convert; analyse later with `analyze`")

    verify = sub.add_parser("verify", help="check every file of a suite; exit status 1 if any is broken")
    verify.add_argument("suite_dir", type=Path, help="e.g. artifacts/default")

    report = sub.add_parser(
        "report", help="write the claims report (Markdown and JSON, in the suite's analysis folder)"
    )
    report.add_argument("suite_dir", type=Path)

    lst = sub.add_parser("list", help="list presets and the suites already trained")
    lst.add_argument("--out", type=Path, default=Path("artifacts"))
    return parser


def cmd_train(args) -> int:
    from training.pipeline import distributed
    from training.pipeline.train import train_suite

    preset = apply_overrides(presets.load(args.preset), args.overrides)
    suite = schema.check_name("suite", args.suite or preset.name)
    runs = [r.strip() for r in args.runs.split(",") if r.strip()] if args.runs else None
    seeds = parse_value("--seeds", args.seeds, int)  # checked positive by Preset.select_runs

    def after_run(run_path: Path) -> None:
        from training.pipeline.analyze_suite import analyze_suite

        # Each run is analysed as soon as it is trained, and the suite tables and the claims
        # report are rebuilt: claims are decided as their runs arrive ("waiting" until then).
        # Another process (a trainer of another run, an `analyze`) may be at it: wait our turn.
        with suite_lock(run_path.parent, "analyze", wait=True, log=log):
            analyze_suite(run_path.parent, only=[run_path.name], log=log)
            write_report(run_path.parent)

    lanes = parse_value("--lanes", args.lanes, int) if args.lanes else preset.lanes
    if lanes < 1:
        raise ConfigError(f"--lanes: must be a positive integer, got {lanes}")
    lane = parse_value("--lane", args.lane, int)

    def start_lanes(n: int):
        """Start lanes 1 .. n-1: this command again, with `--lane k`; returns a function that
        waits for them (and stops them if this process is leaving early)."""
        argv = [sys.executable, "-m", "training", *sys.argv[1:]]
        procs = [subprocess.Popen([*argv, "--lanes", str(n), "--lane", str(k)]) for k in range(1, n)]

        def wait(stop: bool) -> None:
            if stop:  # this lane is leaving on an error or Ctrl-C: stop the others too
                for p in procs:
                    p.terminate()
            failed = [p.args[-1] for p in procs if p.wait() != 0]
            if failed and not stop:
                raise ConfigError(f"--lanes: lane {', '.join(failed)} failed (its error is above)")

        return wait

    world = distributed.init(args.device)  # one process, or this process's place in a torchrun launch
    try:
        train_suite(
            preset,
            args.out,
            suite,
            runs=runs,
            seeds=seeds,
            resume=args.resume,
            device=args.device,
            live_metrics=not args.no_live_metrics,
            after_run=None if args.no_analyze else after_run,
            log=log if world.is_main else lambda *_: None,
            world=world,
            lanes=lanes,
            lane=lane,
            start_lanes=start_lanes,
        )
        # Leave together: no process tears its group down while another still uses it. Only
        # on success: after an error the others may be inside another collective (torchrun
        # ends them when this process exits non-zero).
        distributed.barrier(world)
    finally:
        distributed.close(world)
    return 0


def existing_suite(path: Path) -> Path:
    schema.check_name("suite", path.name)
    if not schema.tokenizer_path(path).exists():
        raise schema.ArtifactError(f"{path} is not a suite folder (no {schema.TOKENIZER}); train one first")
    return path


def write_report(suite_path: Path) -> None:
    from training.pipeline.report import build_report, save_report

    save_report(suite_path, build_report(suite_path))
    log(f"claims report: {schema.report_path(suite_path, markdown=True)}")


def cmd_analyze(args) -> int:
    only = [r.strip() for r in args.runs.split(",") if r.strip()] if args.runs else None
    from training.pipeline import distributed
    from training.pipeline.analyze_suite import analyze_suite

    suite_path = existing_suite(args.suite_dir)
    # Under torchrun each rank measures a share of every run's snapshots; rank 0 holds the lock
    # for the launch and builds what is built once (training.pipeline.analyze_suite)
    world = distributed.init("cpu")
    try:
        with suite_lock(suite_path, "analyze") if world.is_main else contextlib.nullcontext():
            distributed.barrier(world)  # rank 0 holds the lock before any rank writes
            analyze_suite(suite_path, args.overrides, only, log=log if world.is_main else lambda *_: None, world=world)
    finally:
        distributed.close(world)
    return 0


def cmd_import(args) -> int:
    import re

    from training.core.adapters.hooked import AdapterError
    from training.core.checkpoints import CheckpointError
    from training.pipeline.analyze_suite import analyze_suite
    from training.pipeline.importers.series import ImportError_, ImportSpec, import_series
    from training.pipeline.importers.sources import SourceError

    run = args.run or re.sub(r"[^a-z0-9_-]+", "-", args.source.resolve().name.lower()).strip("-_") or "run"
    spec = ImportSpec(
        source=args.source,
        out=args.out,
        suite=schema.check_name("suite", args.suite),
        run=schema.check_name("run", run[:64]),
        every=parse_value("--every", args.every, int),
        text=args.text,
        tokenizer=args.tokenizer,
        probe_ctx=parse_value("--ctx", args.ctx, int),
        tokens_per_step=parse_value("--tokens-per-step", args.tokens_per_step, int) if args.tokens_per_step else None,
        overrides=tuple(args.overrides),
    )
    try:
        run_path = import_series(spec, log=log)
    except (ImportError_, SourceError, CheckpointError, AdapterError) as e:  # each names the path or field
        raise ConfigError(str(e)) from None
    if not args.no_analyze:
        with suite_lock(run_path.parent, "analyze", wait=True, log=log):
            analyze_suite(run_path.parent, only=[run_path.name], log=log)
            write_report(run_path.parent)
    return 0


def cmd_report(args) -> int:
    suite_path = existing_suite(args.suite_dir)
    write_report(suite_path)
    print(schema.read_report_markdown(suite_path))
    return 0


def cmd_verify(args) -> int:
    from training.pipeline.verify import verify_suite

    verdict = verify_suite(existing_suite(args.suite_dir))
    for problem in verdict.problems.values():
        print(f"broken: {problem}")
    if verdict.unrecorded:
        print(
            f"{verdict.unrecorded} files have no recorded checksum (written before checksums were kept): checked by kind only"
        )
    counts = f"{len(verdict.problems)} broken" if verdict.problems else "all whole"
    print(f"{args.suite_dir}: {verdict.checked} files checked, {counts}")
    return 1 if verdict.problems else 0


def cmd_list(args) -> int:
    print("presets:")
    for name in presets.names():
        p = presets.load(name)
        print(f"  {name:10s} {p.description}")
        print(f"  {'':10s} runs: {', '.join(r.name for r in p.runs)}")
    suites = schema.list_suites(args.out)
    print(f"suites in {args.out}:" if suites else f"no suites in {args.out} yet")
    for suite in suites:
        for run in schema.list_runs(args.out / suite):
            m = schema.read_manifest(args.out / suite / run)
            print(f"  {suite}/{run}: {m.status}, {len(m.snapshots)} snapshots")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_buffers_in_heap()  # training and analysis both run long-context batches
    try:
        commands = {
            "train": cmd_train,
            "analyze": cmd_analyze,
            "report": cmd_report,
            "verify": cmd_verify,
            "import": cmd_import,
            "list": cmd_list,
        }
        return commands[args.command](args)
    except (ConfigError, schema.ArtifactError, LockError) as e:
        hint = "; continue with --resume once there is room" if "cannot write" in str(e) else ""
        print(f"error: {e}{hint if args.command == 'train' else ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; continue with --resume", file=sys.stderr)
        return 130
