"""Building targets: plan, skip what is up to date, build, check, record, install.

One target's failure never stops the others; every target ends in exactly one
`Outcome`, which the CLI turns into the summary table, JSON and the exit code.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock

from efbuild import cache
from efbuild.backends import BuildRequest, get_backend
from efbuild.backends.cargo_process import build_machine_paths
from efbuild.checks import CheckContext, CheckResult, run_checks
from efbuild.errors import BuildFailed
from efbuild.fingerprint import build_fingerprint, file_sha256, source_hash
from efbuild.fsutil import atomic_copy
from efbuild.records import BuildPaths, BuildRecord, load_record, save_record
from efbuild.settings import Settings, ensure_work_dir
from efbuild.target import Target
from efbuild.toolchain import Missing, Toolchain, resolve_toolchain

# Outcome states, from best to worst.
BUILT, UP_TO_DATE, SKIPPED, CHECK_FAILED, BUILD_FAILED = (
    "built", "up to date", "skipped", "check failed", "build failed")


@dataclass(frozen=True)
class BuildOptions:
    profile: str = "release"
    force: bool = False  # rebuild even when the fingerprint matches
    install: bool = False
    install_version: str | None = None  # default: the runtime crate's version
    jobs: int = 1


@dataclass(frozen=True)
class Outcome:
    target: Target
    state: str
    seconds: float
    reason: str = ""
    enable: tuple[str, ...] = ()
    record: BuildRecord | None = None
    log_path: Path | None = None
    installed: Path | None = None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state in (BUILT, UP_TO_DATE)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.target.key,
            "triple": self.target.triple,
            "backend": self.target.backend,
            "state": self.state,
            "seconds": round(self.seconds, 3),
            "reason": self.reason,
            "enable": list(self.enable),
            "problems": list(self.problems),
            "log": str(self.log_path) if self.log_path else None,
            "installed": str(self.installed) if self.installed else None,
            "record": self.record.to_json() if self.record else None,
        }


class Reporter(Protocol):
    def step(self, target: Target, text: str) -> None: ...

    def finished(self, outcome: Outcome) -> None: ...


class SilentReporter:
    def step(self, target: Target, text: str) -> None:
        pass

    def finished(self, outcome: Outcome) -> None:
        pass


@dataclass
class _Job:
    settings: Settings
    target: Target
    options: BuildOptions
    reporter: Reporter
    source: str
    runtime_version: str
    started: float = field(default_factory=time.monotonic)

    @property
    def paths(self) -> BuildPaths:
        return BuildPaths.for_target(self.settings.work_dir, self.target)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def outcome(self, state: str, **kwargs: Any) -> Outcome:
        return Outcome(self.target, state, self.elapsed(), log_path=self.paths.log, **kwargs)


def _checks_passed(results: list[CheckResult]) -> bool:
    return all(r.passed for r in results)


def _problems(results: list[CheckResult]) -> tuple[str, ...]:
    return tuple(f"{r.check}: {p}" for r in results for p in r.problems)


def _is_up_to_date(record: BuildRecord | None, fingerprint: str) -> bool:
    return bool(record and record.fingerprint == fingerprint and record.status == "passed"
                and record.binary_intact())


def _record(job: _Job, fingerprint: str, toolchain: Toolchain, identity: dict[str, str],
            results: list[CheckResult]) -> BuildRecord:
    binary = job.paths.binary
    return BuildRecord(
        key=job.target.key,
        triple=job.target.triple,
        backend=job.target.backend,
        profile=job.options.profile,
        fingerprint=fingerprint,
        source_hash=job.source,
        binary=str(binary),
        sha256=file_sha256(binary),
        size=binary.stat().st_size,
        status="passed" if _checks_passed(results) else "failed",
        checks=[r.to_json() for r in results],
        toolchain=toolchain.describe(),
        backend_identity=identity,
        glibc_policy=job.target.glibc,
        macos_min=job.target.macos_min,
        built_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        duration_seconds=round(job.elapsed(), 3),
    )


def _install(job: _Job, record: BuildRecord) -> Path:
    version = job.options.install_version or job.runtime_version
    return cache.install(job.settings.cache_dir, version, job.target.triple, Path(record.binary), record.sha256)


def _build_one(job: _Job) -> Outcome:
    target = job.target
    backend = get_backend(target.backend)
    toolchain = resolve_toolchain(target)
    if isinstance(toolchain, Missing):
        return job.outcome(SKIPPED, reason=toolchain.reason, enable=toolchain.enable)
    blocked = backend.unavailable(target, toolchain)
    if blocked:
        return job.outcome(SKIPPED, reason=blocked.reason, enable=blocked.enable)
    identity = dict(backend.identity())
    fingerprint = build_fingerprint(source=job.source, target=target, toolchain=toolchain,
                                    backend=backend.name, backend_identity=identity,
                                    profile=job.options.profile, environ=os.environ)
    previous = load_record(job.paths)
    if not job.options.force and _is_up_to_date(previous, fingerprint):
        installed = _install(job, previous) if job.options.install else None
        return job.outcome(UP_TO_DATE, record=previous, installed=installed, reason="nothing changed")
    job.reporter.step(target, f"building ({backend.name}, {toolchain.route})")
    job.paths.root.mkdir(parents=True, exist_ok=True)
    job.paths.log.write_text("")
    request = BuildRequest(target=target, toolchain=toolchain, profile=job.options.profile,
                           project_dir=job.settings.project_dir, target_dir=job.paths.cargo_target,
                           log_path=job.paths.log, work_dir=job.settings.work_dir)
    try:
        produced = backend.build(request)
    except BuildFailed as exc:
        return job.outcome(BUILD_FAILED, reason=exc.message)
    atomic_copy(produced, job.paths.binary)
    job.reporter.step(target, "checking")
    leak_dirs = tuple(str(p) for p in [*build_machine_paths(request, os.environ), Path.home()])
    results = run_checks(job.paths.binary, CheckContext(target, job.runtime_version, leak_dirs))
    record = _record(job, fingerprint, toolchain, identity, results)
    save_record(job.paths, record)
    if record.status != "passed":
        failed = ", ".join(r.check for r in results if r.status == "failed")
        return job.outcome(CHECK_FAILED, record=record, reason=f"failed check(s): {failed}",
                           problems=_problems(results))
    installed = _install(job, record) if job.options.install else None
    return job.outcome(BUILT, record=record, installed=installed)


def _run_job(job: _Job) -> Outcome:
    job.started = time.monotonic()
    job.reporter.step(job.target, "preparing")
    job.paths.root.mkdir(parents=True, exist_ok=True)
    # Two efbuild runs building the same target would otherwise interleave their logs
    # and records; the second waits and then finds the first's build up to date.
    with FileLock(str(job.paths.root / ".lock")):
        outcome = _build_one(job)
    job.reporter.finished(outcome)
    return outcome


def build_targets(settings: Settings, targets: list[Target], options: BuildOptions,
                  reporter: Reporter | None = None) -> list[Outcome]:
    reporter = reporter or SilentReporter()
    for target in targets:
        get_backend(target.backend)  # an unknown backend is a config error before any work
    ensure_work_dir(settings.work_dir)
    source = source_hash(settings.project_dir, settings.crate_dir)
    version = settings.runtime_version()
    jobs = [_Job(settings, t, options, reporter, source, version) for t in targets]
    if options.jobs <= 1 or len(jobs) <= 1:
        return [_run_job(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=options.jobs) as pool:
        return list(pool.map(_run_job, jobs))
