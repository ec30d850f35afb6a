"""Where the time goes in one Quart stack under load: hypercorn in-process under pyinstrument,
or the game-action route under py-spy.

    .venv/bin/python -m devtools.bench profile [--stack quart-httpx] [--requests 2000]
        [--concurrency 500] [--latency 1.0] [--quick]
    .venv/bin/python -m devtools.bench profile --actions [--label after] [--requests 2000]

``--actions``: quart_app on one hypercorn worker (SQLite, the fake upstream at 1 s), the
``mix`` of :mod:`devtools.load` (explore, cultivate, talk, shop) at 500 in flight, sampled by
``py-spy record`` on every thread (the event loop and the SQLite thread), summarised into
``docs/img/profile-actions-<label>.md``: samples per thread, self time by package and by
function, and inclusive time of the project's and the libraries' frames.

Runs ``pyinstrument -m hypercorn -w 0 ...`` (the worker in the profiled process itself) with
the stack's settings, drives it with :mod:`devtools.load`, stops it with SIGTERM and
writes ``docs/img/profile-<stack>.md``: the event loop thread's time by package (self time;
``loop`` is the event loop itself) and the hottest functions. ``python -m devtools.bench stacks``
puts every such file into docs/evaluation.md. Work done on other threads (the thread pool's calls,
the Celery worker) is not in this profile; the CPU split in the results covers those.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from devtools import procs as bp
from devtools.bench.actions import LIMITS_RAISED
from devtools.bench.stacks import BENCH_REDIS_URL, run_load

# Frames whose self time is the event loop itself: waiting in epoll, or uvloop's C code
# (invisible to the profiler, so it lands on the Python frame that called into the loop).
LOOP_FRAMES = {"select", "poll", "epoll", "run", "run_once", "run_forever",
               "run_until_complete"}
IMPORT_FRAMES = {"_find_and_load", "_call_with_frames_removed"}
LOOP_OWNERS = ("stdlib:selectors", "stdlib:runners", "stdlib:base_events", "<builtin>",
               "uvloop")


def package_of(file_path: str | None, function: str) -> str:
    """A short owner for a frame: the site-package, our top package, or the stdlib module."""
    if not file_path:
        return "<builtin>"
    path = file_path.replace("\\", "/")
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    for ours in ("shared", "quart_app", "legacy_flask"):
        if f"/{ours}/" in path:
            return ours
    if path.startswith("<"):
        return "<builtin>"
    return "stdlib:" + Path(path).stem


def summarize(session_path: Path) -> dict[str, Any]:
    """Self time by package and by function from a saved pyinstrument session."""
    from pyinstrument.session import Session

    session = Session.load(str(session_path))
    root = session.root_frame()
    by_package: dict[str, float] = {}
    by_function: dict[str, float] = {}
    stack = [root] if root is not None else []
    imports = 0.0
    while stack:
        frame = stack.pop()
        if frame.function in IMPORT_FRAMES:
            imports += frame.time  # start-up, not serving: left out of the shares
            continue
        stack.extend(frame.children)
        if frame.is_synthetic:
            continue
        self_time = frame.total_self_time
        if self_time <= 0:
            continue
        pkg = package_of(frame.file_path, frame.function)
        if frame.function.rsplit(".", 1)[-1] in LOOP_FRAMES and pkg.startswith(LOOP_OWNERS):
            pkg = "loop"
        by_package[pkg] = by_package.get(pkg, 0.0) + self_time
        name = f"{frame.function} ({pkg})"
        by_function[name] = by_function.get(name, 0.0) + self_time
    return {
        "duration_s": session.duration,
        "cpu_time_s": session.cpu_time,
        "by_package": sorted(by_package.items(), key=lambda kv: -kv[1]),
        "by_function": sorted(by_function.items(), key=lambda kv: -kv[1])[:20],
        "imports_s": imports,
    }


def write_markdown(stack: str, load: dict[str, Any], prof: dict[str, Any], out: Path) -> None:
    """The profile as a short markdown section."""
    total = sum(t for _, t in prof["by_package"]) or 1.0
    busy = total - dict(prof["by_package"]).get("loop", 0.0)
    lines = [
        f"### Profile: {stack}, {load['requests']} requests at {load['concurrency']} in flight",
        "",
        f"Written by `python -m devtools.bench profile --stack {stack}`. Under the profiler: "
        f"{load['ok']} ok, {load['errors']} errors, {load['rps']:.0f} req/s, p99 "
        f"{load['p99_s']:.2f} s (sampling slows the loop; compare shares, not speed). "
        f"Python code ran {busy:.1f} s of the {total:.1f} s sampled on the loop thread; the "
        f"rest (`loop`) is the event loop waiting in epoll or in uvloop's C code. Imports at "
        f"start-up ({prof['imports_s']:.1f} s) are left out. Process CPU "
        f"{prof['cpu_time_s']:.1f} s.",
        "",
        "| owner | self time s | share of busy time |",
        "|---|---|---|",
    ]
    for pkg, t in prof["by_package"][:14]:
        share = "-" if pkg == "loop" else f"{t / busy:.0%}"
        lines.append(f"| {pkg} | {t:.2f} | {share} |")
    lines += ["", "Hottest functions (self time):", "", "| function | s |", "|---|---|"]
    lines += [f"| `{name}` | {t:.2f} |" for name, t in prof["by_function"][:12]]
    out.write_text("\n".join(lines) + "\n")


def _frame_owner(frame: str) -> str:
    """``function (path:line)`` of py-spy's raw output -> a short owner of its code."""
    path = frame.rsplit("(", 1)[-1].rstrip(")").rsplit(":", 1)[0]
    for ours in ("shared/", "quart_app/", "devtools/"):
        if path.startswith(ours) or f"/{ours}" in path:
            inner = path.split(ours, 1)[1].split("/", 1)[0].removesuffix(".py")
            return ours + inner
    head = path.split("/", 1)[0].removesuffix(".py")
    return head if "/" in path else "stdlib:" + head


NATIVE = "native code (no Python frame)"


def summarize_pyspy(raw: Path, top: int = 25) -> dict[str, Any]:
    """Samples of a ``py-spy record --format raw`` file: per thread, self time by owner and
    by function, inclusive time by function (line numbers dropped)."""
    import re

    total = 0
    threads: dict[str, int] = {}
    owners: dict[str, int] = {}
    selfs: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        thread = re.sub(r"\(\d+\)", "", frames[0].removeprefix("thread ")).strip(" :")
        threads[thread] = threads.get(thread, 0) + n
        # Only the thread's own frame: the thread runs native code (uvloop, a system call).
        native = len(frames) == 1
        leaf = NATIVE if native else re.sub(r":\d+\)$", ")", frames[-1])
        selfs[leaf] = selfs.get(leaf, 0) + n
        owner = NATIVE if native else _frame_owner(frames[-1])
        owners[owner] = owners.get(owner, 0) + n
        for name in {re.sub(r":\d+\)$", ")", f) for f in frames[1:]}:
            inclusive[name] = inclusive.get(name, 0) + n

    def ranked(d: dict[str, int], k: int = top) -> list[tuple[str, int]]:
        return sorted(d.items(), key=lambda kv: -kv[1])[:k]

    return {"samples": total, "threads": ranked(threads), "owners": ranked(owners),
            "self": ranked(selfs), "inclusive": ranked(inclusive, 200)}


def write_actions_markdown(label: str, load: dict[str, Any], prof: dict[str, Any],
                           out: Path, rate: int) -> None:
    """The py-spy summary of the action route as a short markdown file."""
    total = prof["samples"] or 1

    def pct(n: int) -> str:
        return f"{100 * n / total:.1f}%"

    served = load["ok"] + load["degraded"]
    lines = [
        f"### Profile of the action route ({label}): py-spy, every thread",
        "",
        f"Written by `python -m devtools.bench profile --actions --label {label}`: quart_app on "
        f"one hypercorn worker, SQLite, fake upstream at 1 s, {load['requests']} game actions "
        f"(explore, cultivate, talk, sell/buy) at {load['concurrency']} in flight; {served} "
        f"served, {load['errors']} errors, {load['served_rps']:.0f} actions/s, p99 "
        f"{load['p99_s'] or 0:.2f} s, {load.get('cpu_ms') or 0:.2f} ms server CPU per action, "
        f"load average {load.get('loadavg_before', 0):.1f}. py-spy at {rate} Hz, idle "
        f"threads not sampled; a thread waiting for the GIL counts as busy in the frame that "
        f"waits. {total} samples.",
        "",
        "| thread | samples | share |", "|---|---|---|",
        *[f"| {t} | {n} | {pct(n)} |" for t, n in prof["threads"][:4]],
        "", "Self time by owner of the code:", "",
        "| owner | share |", "|---|---|",
        *[f"| {o} | {pct(n)} |" for o, n in prof["owners"][:16]],
        "", "Hottest functions (self time):", "",
        "| function | share |", "|---|---|",
        *[f"| `{f}` | {pct(n)} |" for f, n in prof["self"][:16]],
        "", "Inclusive time of the project's frames and the hot libraries:", "",
        "| function | share |", "|---|---|",
    ]
    keep = ("shared/", "quart_app/", "redis/", "quart_schema/", "pydantic/", "json/")
    picked = [(f, n) for f, n in prof["inclusive"] if any(k in f for k in keep)][:30]
    lines += [f"| `{f}` | {pct(n)} |" for f, n in picked]
    out.write_text("\n".join(lines) + "\n")


def profile_actions(args: argparse.Namespace) -> int:
    """``--actions``: the action route under py-spy (see the module doc)."""
    import os
    import signal
    import subprocess

    from devtools.bench.actions import app_stack, describe, run_phase

    rate = 200
    out = args.out or bp.ROOT / "docs" / "img" / f"profile-actions-{args.label}.md"
    with tempfile.TemporaryDirectory(prefix="xianxia-prof-") as tmp:
        run_dir = Path(tmp)
        raw = run_dir / "py-spy.txt"
        fake = bp.start_fake(run_dir, latency=args.latency, max_seconds=args.cap + 300)
        try:
            with app_stack(run_dir, fake, name="profiled") as app:
                run_phase(app, "llm", 100, 50, 30.0, "warm-up")
                spy = subprocess.Popen(
                    [str(bp.BIN / "py-spy"), "record", "--pid", str(app.procs[0].pid),
                     "--rate", str(rate), "--format", "raw", "--threads", "--nonblocking",
                     "--duration", str(int(args.cap) + 30), "-o", str(raw)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                try:
                    load = run_phase(app, "mix", args.requests, args.concurrency, args.cap,
                                     f"actions under py-spy ({args.label})")
                finally:
                    spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
                    _, err = spy.communicate(timeout=60)
                print(describe(load))
        finally:
            fake.stop()
        if not raw.exists():
            print(err.decode(errors="replace"), file=sys.stderr)
            return 1
        prof = summarize_pyspy(raw)
        if args.session is not None:
            shutil.copyfile(raw, args.session)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_actions_markdown(args.label, load, prof, out, rate)
    print(f"wrote {out} (load average {os.getloadavg()[0]:.1f})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """CLI entry point."""
    p = argparse.ArgumentParser(description="Profile one Quart stack under load.")
    p.add_argument("--stack", default="quart-httpx",
                   choices=[s for s in bp.STACKS if s.startswith("quart")])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=500)
    p.add_argument("--latency", type=float, default=1.0)
    p.add_argument("--cap", type=float, default=120.0)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--session", type=Path, default=None,
                   help="also keep the raw pyinstrument session here (open with pyinstrument "
                        "--load)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 200 requests at 50 in flight, 0.2 s latency")
    p.add_argument("--actions", action="store_true",
                   help="profile the game-action route under py-spy instead")
    p.add_argument("--label", default="after", help="with --actions: the output's name")
    p.add_argument("--from-raw", type=Path, default=None,
                   help="with --actions: only summarise a saved py-spy raw file")
    args = p.parse_args(argv)
    if args.actions and args.from_raw is not None:
        out = args.out or bp.ROOT / "docs" / "img" / f"profile-actions-{args.label}.md"
        meta = json.loads(args.from_raw.with_suffix(".json").read_text())
        write_actions_markdown(args.label, meta, summarize_pyspy(args.from_raw), out, 200)
        print(f"wrote {out}")
        return 0
    if args.actions:
        if args.quick:
            args.requests, args.concurrency, args.latency, args.cap = 200, 50, 0.2, 30.0
        return profile_actions(args)
    out = args.out or bp.ROOT / "docs" / "img" / f"profile-{args.stack}.md"

    if args.quick:
        args.requests, args.concurrency, args.latency, args.cap = 200, 50, 0.2, 30.0
    celery = bp.STACKS[args.stack]["backend"] == "celery"

    with tempfile.TemporaryDirectory(prefix="xianxia-prof-") as tmp:
        run_dir = Path(tmp)
        session_path = run_dir / "hypercorn.pyisession"
        fake = bp.start_fake(run_dir, latency=0.0, max_seconds=args.cap + 300)
        env = {**bp.stack_env(args.stack, fake.base_url, run_dir, BENCH_REDIS_URL),
               **LIMITS_RAISED}
        workers = bp.Stack(args.stack, "")
        server: bp.AppServer | None = None
        try:
            # The Celery workers as in the benchmark; the server is ours, under the profiler.
            workers = bp.start_stack(args.stack, env, run_dir, 64, 8, server=False)
            port = bp.free_port()
            cmd = [str(bp.BIN / "pyinstrument"), "-r", "pyisession", "-o", str(session_path),
                   "-m", "hypercorn", "--config", str(bp.ROOT / "deploy/hypercorn.toml"),
                   "--workers", "0", "--backlog", "2048", "--bind", f"127.0.0.1:{port}",
                   "quart_app:create_app()"]
            server = bp.start_app("quart", env, run_dir, port=port, cmd=cmd,
                                  name=f"{args.stack}-profiled")
            run_load(server.base_url, 50, 50, 30.0, "warm-up")
            fake.set_latency(args.latency)
            load = run_load(server.base_url, args.requests, args.concurrency, args.cap,
                            f"{args.stack} profiled")
        finally:
            if server is not None:
                server.stop(timeout=60.0)  # SIGTERM: hypercorn returns, pyinstrument saves
            workers.stop()
            fake.stop()
            if celery:
                bp.drop_queue(BENCH_REDIS_URL, env["CELERY_QUEUE"])
        prof = summarize(session_path)
        if args.session is not None:
            shutil.copyfile(session_path, args.session)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_markdown(args.stack, load, prof, out)
    print(json.dumps({"load": load, "by_package": prof["by_package"][:10]}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
