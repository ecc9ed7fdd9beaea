"""Latency of ``asyncmend server``: time from ``textDocument/didChange`` to the
``textDocument/publishDiagnostics`` for that version, on a 2,000-line file.

    python bench/lsp_latency.py [--lines 2000] [--project-lines 20000] [--changes 30] [--pause 0.2]
                                [--edit comment|body]

Generates a synthetic service project (bench/synth.py), writes one module of exactly
``--lines`` lines into it (top-level units of the generated services, cut at a unit
boundary), starts the installed ``asyncmend server`` with a real LSP client
(pytest-lsp, from the test extra), opens the module (the repo index is built then),
and times ``--changes`` edits that change no index fact, in the middle of the file:
``--edit comment`` (the default) rewrites a comment line, ``--edit body`` a statement
inside a function body (``note = "edit N"``), as typing does. The server's own
debounce is included.
Then a second server is started on the same project and opens the module again (the
index's facts come from the content cache now). Prints one JSON object: median, p90,
min and max in milliseconds, and the CPU time the server process spent per change
(``/proc``, Linux): on a shared machine the wall time follows the load, the CPU time
much less.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth import generate

#: The module the benchmark writes and edits.
TARGET = "big_module.py"


def big_module(project: Path, lines: int) -> str:
    """``lines`` lines of generated service code, cut where a top-level unit starts."""
    out: list[str] = []
    for path in sorted((project / "svc" / "services").glob("*.py")):
        if path.name != TARGET:
            out.extend(path.read_text().splitlines(keepends=True))
        if len(out) > lines:
            break
    cut = min(lines, len(out) - 1)
    while cut > 0 and not out[cut].startswith(("def ", "async def ", "class ", "@")):
        cut -= 1
    body = out[:cut]
    filler = lines - len(body)
    return "".join(body) + "".join(f"# padding {n}\n" for n in range(filler))


def executable() -> str:
    candidate = Path(sys.executable).parent / "asyncmend"
    found = str(candidate) if candidate.exists() else shutil.which("asyncmend")
    if not found:
        raise SystemExit("asyncmend is not installed next to this Python or on PATH")
    return found


async def _start_and_open(
    project: Path, uri: str, text: str
) -> tuple[LanguageClient, float, asyncio.Future[object]]:
    """A server started on ``project`` with ``uri`` opened: the client, when ``didOpen``
    was sent, and the future of the first diagnostics."""
    client = await ClientServerConfig(server_command=[executable(), "server"]).start()
    assert isinstance(client, LanguageClient)
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=project.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=project.as_uri(), name="bench")],
        )
    )
    started = time.perf_counter()
    first = client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )
    return client, started, first


def edit_site(text: str, edit: str) -> tuple[int, str]:
    """The 0-based line the edits rewrite, and the text each version puts there."""
    lines = text.splitlines()
    line = len(lines) // 2
    if edit == "comment":
        return line, "# edit {version}\n"
    for k in range(line, len(lines)):  # a statement line inside a function body
        current, previous = lines[k], lines[k - 1]
        if (
            current.startswith("        ")
            and current.strip()
            and previous.strip()
            and not previous.rstrip().endswith(("(", "[", "{", ",", "\\"))
            and not current.lstrip().startswith((")", "]", "}", "else", "elif", "except"))
        ):
            indent = current[: len(current) - len(current.lstrip())]
            return k, indent + 'note = "edit {version}"\n'
    raise SystemExit("no function body line to edit")


async def measure(
    project: Path, text: str, changes: int, pause: float = 0.2, kind: str = "comment"
) -> dict[str, object]:
    target = project / "svc" / "services" / TARGET
    target.write_text(text)
    uri = target.as_uri()
    client, started, first = await _start_and_open(project, uri, text)
    opened = await asyncio.wait_for(first, 300)
    open_ms = (time.perf_counter() - started) * 1000
    line, template = edit_site(text, kind)
    samples, cpu_samples = [], []
    pid = client._server.pid if client._server is not None else None
    for version in range(2, changes + 2):
        waiting = client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        edit = types.TextDocumentContentChangePartial(
            range=types.Range(
                start=types.Position(line=line, character=0),
                end=types.Position(line=line, character=0),
            ),
            text=template.format(version=version),
        )
        if version > 2:  # rewrite the line added by the first edit
            edit = types.TextDocumentContentChangePartial(
                range=types.Range(
                    start=types.Position(line=line, character=0),
                    end=types.Position(line=line + 1, character=0),
                ),
                text=template.format(version=version),
            )
        sent, sent_cpu = time.perf_counter(), process_cpu_ms(pid)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[edit],
            )
        )
        params = await asyncio.wait_for(waiting, 60)
        while params.version != version:  # a late result for an older version
            params = await asyncio.wait_for(
                client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS), 60
            )
        samples.append((time.perf_counter() - sent) * 1000)
        if sent_cpu is not None and (done_cpu := process_cpu_ms(pid)) is not None:
            cpu_samples.append(done_cpu - sent_cpu)
        await asyncio.sleep(pause)  # typing pauses; measure each change on its own
    await client.shutdown_session()
    await client.stop()
    restart_ms = await open_time(project, uri, text)
    samples.sort()
    return {
        "file_lines": len(text.splitlines()),
        "diagnostics": len(opened.diagnostics),
        "open_ms_with_index_build": round(open_ms, 1),
        "open_ms_after_restart": round(restart_ms, 1),
        "changes": changes,
        "edit": kind,
        "pause_s": pause,
        "median_ms": round(statistics.median(samples), 1),
        "p90_ms": round(samples[int(len(samples) * 0.9) - 1], 1),
        "min_ms": round(samples[0], 1),
        "max_ms": round(samples[-1], 1),
        "server_cpu_median_ms": round(statistics.median(cpu_samples), 1) if cpu_samples else None,
        "server_cpu_min_ms": round(min(cpu_samples), 1) if cpu_samples else None,
        "server_cpu_max_ms": round(max(cpu_samples), 1) if cpu_samples else None,
    }


async def open_time(project: Path, uri: str, text: str) -> float:
    """Milliseconds from ``didOpen`` to the first diagnostics of a server started again
    on the same project (the repo index's facts then come from the content cache)."""
    client, started, first = await _start_and_open(project, uri, text)
    await asyncio.wait_for(first, 300)
    elapsed = (time.perf_counter() - started) * 1000
    await client.shutdown_session()
    await client.stop()
    return elapsed


def process_cpu_ms(pid: int | None) -> float | None:
    """User + system CPU milliseconds of process ``pid`` so far (None off Linux)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def engine_alone(project: Path, text: str, runs: int, kind: str) -> dict[str, float]:
    """Median wall and CPU milliseconds of the same checks in-process (the engine call
    the server makes, with the repo index already built): what the server adds is the
    rest. CPU time is what the check costs on an idle core, whatever else runs. Both
    the full check of the file (as on opening it) and the one per edit (the buffer's
    last check kept, as the server keeps it; see ``engine.incremental``)."""
    from asyncmend.cli.server import Settings, _build_index, _diagnose
    from asyncmend.engine.incremental import BufferState
    from asyncmend.engine.runner import index_scope

    target = project / "svc" / "services" / TARGET
    folders = tuple(sorted(os.path.abspath(p) for p in index_scope([target])))
    index = _build_index(folders, str(target), Settings())
    _diagnose(text, str(target), Settings(), index, frozenset())  # imports, first-call costs
    line, template = edit_site(text, kind)
    lines = text.splitlines(keepends=True)
    state = BufferState()
    _diagnose(text, str(target), Settings(), index, frozenset(), state, "bench")
    timings: dict[str, list[float]] = {"full": [], "full_cpu": [], "edit": [], "edit_cpu": []}
    for version in range(2, runs + 2):
        edited = "".join([*lines[:line], template.format(version=version), *lines[line:]])
        for name, kept in (("full", None), ("edit", state)):
            started, started_cpu = time.perf_counter(), time.thread_time()
            _diagnose(edited, str(target), Settings(), index, frozenset(), kept, "bench")
            timings[name].append((time.perf_counter() - started) * 1000)
            timings[f"{name}_cpu"].append((time.thread_time() - started_cpu) * 1000)
    return {
        "engine_alone_full_check_median_ms": round(statistics.median(timings["full"]), 1),
        "engine_alone_full_check_cpu_median_ms": round(statistics.median(timings["full_cpu"]), 1),
        "engine_alone_per_edit_median_ms": round(statistics.median(timings["edit"]), 1),
        "engine_alone_per_edit_cpu_median_ms": round(statistics.median(timings["edit_cpu"]), 1),
        "engine_alone_per_edit_incremental": state.last == "incremental" or state.last == "same",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=2000, help="lines of the edited file")
    parser.add_argument("--project-lines", type=int, default=20_000, help="synthetic project")
    parser.add_argument("--changes", type=int, default=30)
    parser.add_argument(
        "--pause",
        type=float,
        default=0.2,
        help="seconds between a publish and the next edit (typing: 0.2; above the "
        "server's 0.3 s facts delay, each edit also waits for the facts refresh)",
    )
    parser.add_argument(
        "--edit",
        choices=("comment", "body"),
        default="comment",
        help="what each change rewrites: a comment line, or a statement in a function body",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="asyncmend-lsp-bench-") as folder:
        project = Path(folder)
        generate(project, args.project_lines)
        (project / "pyproject.toml").write_text("[tool.asyncmend]\n")
        text = big_module(project, args.lines)
        result = asyncio.run(measure(project, text, args.changes, args.pause, args.edit))
        result.update(engine_alone(project, text, min(args.changes, 10), args.edit))
    result["project_lines"] = args.project_lines
    result["cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    result["load_average_1min"] = (
        round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
