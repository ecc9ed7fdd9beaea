"""Pass 1 runs the candidate gate and records what it asked of the repo; pass 2 reuses
the verdict only when the real index gives every recorded question the same answer
(``engine/replay.py``, ``codemods/facts/gate_index.py``). One test per question of
the facade (its answer on a small repo, and a module the index does not hold answering
as one without facts), and the replay's conditions: same answers -> no parse; any
changed answer, other bytes or no record -> the full gate. ``tests/test_gate.py``
runs every fixture case with ``ASYNCMEND_GATE_VERIFY`` on (replayed == full gate)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from asyncmend.codemods.facts.base import FileFacts
from asyncmend.codemods.facts.gate_index import GateIndex, RecordingGateIndex, replays
from asyncmend.engine import process, replay, run
from asyncmend.engine.index import RepoIndex, collect_facts
from asyncmend.engine.job import Job

HERE = "app/api.py"


def _index() -> RepoIndex:
    """app.db (a sessionmaker, a scoped session, a session dependency, a factory
    annotated to return app.adapter.Adapter), app.adapter (a method giving a session),
    app/__init__ re-exporting get_db, and the gated file app.api."""
    db = FileFacts(
        path="app/db.py",
        module="app.db",
        async_defs=["get_db", "Repo.load"],
        sessionmakers={"Maker": {"async": True, "expire_on_commit": True}},
        extra={
            "scoped_sessions": ["Scoped"],
            "session_dependencies": ["get_db"],
            "returned_classes": {"make_adapter": {"class": "app.adapter.Adapter", "local": False}},
        },
    )
    adapter = FileFacts(
        path="app/adapter.py",
        module="app.adapter",
        extra={"session_returners": ["Adapter.get_session"]},
    )
    package = FileFacts(path="app/__init__.py", module="app", imports={"get_db": "app.db.get_db"})
    here = FileFacts(path=HERE, module="app.api", extra={"scoped_sessions": ["local_scoped"]})
    return RepoIndex([db, adapter, package, here])


@pytest.fixture
def gate_index() -> GateIndex:
    return GateIndex(_index(), HERE)


def test_resolve_follows_reexports(gate_index: GateIndex) -> None:
    assert gate_index.resolve("app.get_db") == "app.db.get_db"
    assert gate_index.resolve("elsewhere.thing") == "elsewhere.thing"


def test_is_coroutine_function(gate_index: GateIndex) -> None:
    assert gate_index.is_coroutine_function("app.get_db")
    assert gate_index.is_coroutine_function("app.db.Repo.load")
    assert not gate_index.is_coroutine_function("app.db.Maker")
    assert not gate_index.is_coroutine_function("absent.module.func")


def test_resolved_in(gate_index: GateIndex) -> None:
    assert gate_index.resolved_in("app.get_db", "session_dependencies")
    assert gate_index.resolved_in("app.db.Maker", "sessionmakers")
    assert not gate_index.resolved_in("app.db.other", "session_dependencies")
    assert not gate_index.resolved_in("absent.get_db", "session_dependencies")


def test_contains(gate_index: GateIndex) -> None:
    assert gate_index.contains(("module", "app.db"), "sessionmakers", "Maker")
    assert gate_index.contains(("module", "app.db"), "scoped_sessions", "Scoped")
    assert gate_index.contains(None, "scoped_sessions", "local_scoped")  # the file itself
    assert not gate_index.contains(("module", "app.adapter"), "sessionmakers", "Maker")
    assert not gate_index.contains(("module", "absent"), "sessionmakers", "Maker")


def test_ends_in_reads_an_import_through_reexports(gate_index: GateIndex) -> None:
    assert gate_index.ends_in(("import", "app.adapter.Adapter"), "session_returners", "get_session")
    assert not gate_index.ends_in(("import", "app.adapter"), "session_returners", "commit")
    assert not gate_index.ends_in(("import", "absent.x"), "session_returners", "get_session")


def test_nonempty(gate_index: GateIndex) -> None:
    # `from app import get_db` may come from app.db (re-export followed).
    assert gate_index.nonempty(("import", "app.get_db"), ("session_dependencies",))
    assert gate_index.nonempty(("import", "app.db.Maker"), ("sessionmakers",))
    assert not gate_index.nonempty(("import", "app.adapter.Adapter"), ("sessionmakers",))
    assert not gate_index.nonempty(("import", "absent.thing"), ("sessionmakers",))
    assert gate_index.nonempty(None, ("scoped_sessions",))


def test_entries(gate_index: GateIndex) -> None:
    assert gate_index.entries(None, "scoped_sessions") == ("local_scoped",)
    assert gate_index.entries(("module", "app.db"), "session_dependencies") == ("get_db",)
    assert gate_index.entries(("module", "absent"), "scoped_sessions") == ()


def test_factory_classes_in(gate_index: GateIndex) -> None:
    place = ("import", "app.db.make_adapter")
    assert gate_index.factory_classes_in(place, "session_returners", "get_session")
    assert gate_index.factory_classes_in(place, "session_returners", None)
    assert not gate_index.factory_classes_in(place, "session_returners", "other")
    assert not gate_index.factory_classes_in(None, "session_returners", None)


def test_repo_may_expire_on_commit() -> None:
    assert GateIndex(_index(), HERE).repo_may_expire_on_commit()
    keeps = FileFacts(
        path="db.py", module="db", sessionmakers={"M": {"async": True, "expire_on_commit": False}}
    )
    assert not GateIndex(RepoIndex([keeps]), "db.py").repo_may_expire_on_commit()


def test_repo_has() -> None:
    assert not GateIndex(_index(), HERE).repo_has("no_result_handlers")
    handles = FileFacts(path="main.py", module="main", extra={"no_result_handlers": True})
    assert GateIndex(RepoIndex([handles]), HERE).repo_has("no_result_handlers")


def test_breaks_lock_order() -> None:
    source = textwrap.dedent(
        """\
        import asyncio
        a_lock = asyncio.Lock()
        b_lock = asyncio.Lock()

        async def one() -> None:
            async with a_lock:
                async with b_lock:
                    pass

        async def two() -> None:
            async with b_lock:
                async with a_lock:
                    pass

        async def three() -> None:
            async with a_lock:
                async with b_lock:
                    pass
        """
    ).encode()
    facts = collect_facts("locks.py", source)
    index = GateIndex(RepoIndex([facts]), "locks.py")
    assert index.breaks_lock_order(())
    assert not GateIndex(RepoIndex([facts]), "other.py").breaks_lock_order(())


def test_recording_index_notes_each_question_once_and_replays() -> None:
    recorder = RecordingGateIndex(_index(), HERE)
    assert recorder.resolved_in("app.get_db", "session_dependencies")
    assert recorder.resolved_in("app.get_db", "session_dependencies")
    assert not recorder.contains(("module", "absent"), "sessionmakers", "x")
    asked = recorder.record()
    assert asked == (
        ("resolved_in", ("app.get_db", "session_dependencies"), True),
        ("contains", (("module", "absent"), "sessionmakers", "x"), False),
    )
    assert replays(GateIndex(_index(), HERE), asked)
    # The same questions of an index where app.db has no session dependency.
    bare = _index()
    bare.by_module["app.db"].extra["session_dependencies"] = []
    assert not replays(GateIndex(bare, HERE), asked)


# -- pass 1 records, pass 2 replays ----------------------------------------------------


def _project(tmp_path: Path) -> Path:
    """A service whose route calls a coroutine of another module without awaiting it
    (AM204): the gate asks whether ``app.jobs.refresh`` is a coroutine function."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "jobs.py").write_text("async def refresh() -> None:\n    pass\n")
    (app / "api.py").write_text(
        "from app.jobs import refresh\n\n\nasync def handler() -> None:\n    refresh()\n"
    )
    return app


def _replays(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths pass 2 answers from a pass-1 record (filled as it does)."""
    answered: list[str] = []
    original = process.replayed

    def counting(path: str, *args):  # type: ignore[no-untyped-def]
        verdict = original(path, *args)
        if verdict is not None:
            answered.append(path)
        return verdict

    monkeypatch.setattr(process, "replayed", counting)
    return answered


def _paths_passed_to(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """The paths pass 2 gives ``engine.process.<name>`` (filled as it does)."""
    calls: list[str] = []
    original = getattr(process, name)

    def counting(path: str, data: bytes, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(path)
        return original(path, data, **kwargs)

    monkeypatch.setattr(process, name, counting)
    return calls


def _gate_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths pass 2 runs the full gate on (filled as it does)."""
    return _paths_passed_to(monkeypatch, "gate_facts")


def test_pass_two_replays_without_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = _project(tmp_path)
    (app / "api.py").write_text(
        "from app.jobs import refresh\n\n\nasync def handler() -> None:\n    await refresh()\n"
    )
    calls, answered = _gate_runs(monkeypatch), _replays(monkeypatch)
    report = run([str(app)], select=["AM"], jobs=1)
    assert report is not None and not report.internal_errors
    assert calls == []  # no gate input was parsed again
    assert sorted(Path(p).name for p in answered) == ["api.py", "jobs.py"]


def test_a_changed_answer_runs_the_full_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pass 1 of api.py knows no other file: `refresh` is no coroutine there. The real
    # index says it is: that answer differs, so pass 2 runs the gate, and AM204 reports.
    app = _project(tmp_path)
    calls, answered = _gate_runs(monkeypatch), _replays(monkeypatch)
    report = run([str(app)], select=["AM204"], jobs=1)
    assert report is not None and not report.internal_errors
    assert [Path(p).name for p in calls] == ["api.py"]
    assert [Path(p).name for p in answered] == ["jobs.py"]  # its record held
    assert [(Path(f.path).name, f.code) for f in report.findings] == [("api.py", "AM204")]


def _job_with_record(path: Path, data: bytes) -> tuple[Job, list[type]]:
    from asyncmend.codemods.registry import rule_by_code
    from asyncmend.engine.cache import content_hash
    from asyncmend.engine.config import Config

    facts = collect_facts(str(path), data)
    job = Job(rule_codes=("AM204",), config=Config(), index=RepoIndex([facts]))
    rules = [rule_by_code("AM204")]
    job.gate_records[str(path)] = replay.GateRecord(
        content_hash(data),
        tested="AM204",
        passed="",
        asked=replay.pack((("is_coroutine_function", ("app.jobs.refresh",), False),)),
    )
    return job, rules


def test_replay_conditions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "api.py"
    data = b"from app.jobs import refresh\n\n\nasync def handler() -> None:\n    refresh()\n"
    path.write_bytes(data)
    calls = _gate_runs(monkeypatch)
    # Same bytes, same answers: the recorded verdict (no candidate), no gate run.
    job, rules = _job_with_record(path, data)
    assert process.candidates(str(path), data, rules, job) == ([], True)
    assert calls == [] and not job.gate_records  # taken once
    # Other bytes: the full gate.
    job, rules = _job_with_record(path, data)
    process.candidates(str(path), data + b"\n", rules, job)
    assert calls == [str(path)]
    # A recorded answer the index now gives otherwise: the full gate.
    job, rules = _job_with_record(path, data)
    jobs = FileFacts(path="app/jobs.py", module="app.jobs", async_defs=["refresh"])
    job.index = RepoIndex([*job.index.by_path.values(), jobs])
    assert replay.replayed(str(path), data, rules, job) is None
    assert process.candidates(str(path), data, rules, job) == (rules, True)  # no record left
    assert calls == [str(path)] * 2


def _compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths pass 2 compiles for AM000 alone (no rule reads them)."""
    return _paths_passed_to(monkeypatch, "syntax_finding")


def test_a_file_pass_one_parsed_is_not_compiled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `__init__.py` is always read by pass 1; no selected rule's token is in either file.
    app = tmp_path / "app"
    app.mkdir()
    (app / "__init__.py").write_text("from app.models import Base\n")
    (app / "broken.py").write_text("def f(:\n")  # no fact token: pass 1 skips it
    compiled = _compiles(monkeypatch)
    report = run([str(app)], select=["AM201"], jobs=1)
    assert report is not None and not report.internal_errors
    assert [Path(p).name for p in compiled] == ["broken.py"]
    assert [(Path(f.path).name, f.code) for f in report.findings] == [("broken.py", "AM000")]


def test_a_pass_one_record_holds_only_for_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "api.py"
    data = b"async def handler() -> None:\n    pass\n"
    job, _ = _job_with_record(path, data)
    assert replay.parsed_before(str(path), data, job)
    assert not job.gate_records  # taken once
    job, _ = _job_with_record(path, data)
    assert not replay.parsed_before(str(path), b"async def handler(:\n", job)
    result = process.process_source(str(path), b"async def handler(:\n", job)
    assert [f.code for f in result.findings] == ["AM000"]


def test_shared_answers_follow_the_index() -> None:
    # Answers that do not depend on the gated file are shared by every file's gate in
    # one state of the index, and asked again once any file's facts changed.
    index = RepoIndex([FileFacts(path=HERE, module="app.api")])
    assert not GateIndex(index, HERE).is_coroutine_function("app.jobs.refresh")
    jobs = FileFacts(path="app/jobs.py", module="app.jobs", async_defs=["refresh"])
    index.add(jobs)
    assert GateIndex(index, "app/other.py").is_coroutine_function("app.jobs.refresh")
    index.by_path.pop("app/jobs.py")  # as the language server drops a deleted file
    index.by_module.pop("app.jobs")
    assert not GateIndex(index, HERE).is_coroutine_function("app.jobs.refresh")
    # The file's own place is asked per file.
    here = FileFacts(path=HERE, module="app.api", extra={"scoped_sessions": ["Scoped"]})
    index.add(here)
    assert GateIndex(index, HERE).nonempty(None, ("scoped_sessions",))
    assert not GateIndex(index, "app/other.py").nonempty(None, ("scoped_sessions",))
