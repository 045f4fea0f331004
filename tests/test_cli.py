"""The `chirp` command answers a new user: help on every command and option, job commands that say
something even on an empty queue, and logs that read well where they go (text on a terminal, JSON else)."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import sys

import pytest

from app.cli import build_parser
from app.logs import chosen_format, configure_logging
from config import Settings, SettingsError
from storage.resources import Resources
from workers.queues import all_queues


def _walk(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found: list[tuple[str, argparse.Action]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                found.append((f"{path} {name}", argparse.Action([], name, help=helps.get(name))))
                found += _walk(child, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            found.append((f"{path} {'/'.join(action.option_strings) or action.dest}", action))
    return found


def test_every_command_and_option_has_help_text() -> None:
    everything = _walk(build_parser(), "chirp")
    names = {where for where, _ in everything}
    assert {"chirp run --ports", "chirp serve --host", "chirp jobs action", "chirp jobs ids"} <= names  # reached them
    missing = [where for where, action in everything if not (action.help or "").strip()]
    assert missing == []


def test_the_top_level_help_lists_each_command_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    parser = build_parser()
    lines = parser.format_help().splitlines()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {c.dest for c in commands._choices_actions} >= {"run", "serve", "worker", "migrate", "stack", "jobs"}
    for command in commands._choices_actions:
        assert command.help
        # the name and its whole help on one line: nothing wrapped onto the next
        assert [line.split() for line in lines if line.split()[:1] == [command.dest]] == [
            [command.dest, *command.help.split()]
        ], "\n".join(lines)


async def _chirp(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        *args,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_jobs_stats_prints_every_queue_with_zeros_when_empty(res: Resources, stack_env: dict[str, str]) -> None:
    code, out, err = await _chirp(stack_env, "jobs", "stats")
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["queue", "ready", "oldest", "ready", "dead"]
    assert sorted(row.split()[0] for row in rows) == sorted(queue.name for queue in all_queues())
    assert all(row.split()[1:] == ["0", "0.0s", "0"] for row in rows), out


async def test_jobs_dead_says_so_when_there_are_none_and_lists_them_when_there_are(
    res: Resources, stack_env: dict[str, str]
) -> None:
    code, out, err = await _chirp(stack_env, "jobs", "dead")
    assert (code, out) == (0, "no dead jobs\n"), err
    await res.db.execute(
        "INSERT INTO dead_jobs (id, queue, kind, payload, attempts, last_error, created_at) "
        "VALUES (7, 'media', 'process', '{}', 8, 'boom', now())"
    )
    code, out, err = await _chirp(stack_env, "jobs", "dead")
    assert code == 0, err
    assert out.startswith("7 media/process attempts=8 ") and out.rstrip().endswith("error=boom")
    code, out, err = await _chirp(stack_env, "jobs", "stats")
    media = next(row for row in out.splitlines() if row.split()[0] == "media")
    assert media.split()[1:] == ["0", "0.0s", "1"]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _log_one_line(fmt: str, stream: io.StringIO) -> str:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("info", fmt, stream)
        logging.getLogger("chirp.test").info("hello %s", "there")
    finally:
        root.handlers[:], root.level = saved
    return stream.getvalue().strip()


def test_logs_are_text_on_a_terminal_and_json_elsewhere() -> None:
    assert Settings.from_env({}).log_format == "auto"
    on_terminal = _log_one_line("auto", _Terminal())
    assert on_terminal.endswith("INFO    chirp.test: hello there") and not on_terminal.startswith("{")
    piped = json.loads(_log_one_line("auto", io.StringIO()))
    assert (piped["level"], piped["logger"], piped["msg"]) == ("info", "chirp.test", "hello there")


def test_chirp_log_format_overrides_the_terminal_check() -> None:
    assert chosen_format(Settings.from_env({"CHIRP_LOG_FORMAT": "JSON"}).log_format, _Terminal()) == "json"
    assert chosen_format(Settings.from_env({"CHIRP_LOG_FORMAT": "text"}).log_format, io.StringIO()) == "text"
    assert json.loads(_log_one_line("json", _Terminal()))["msg"] == "hello there"
    with pytest.raises(SettingsError, match=r"^CHIRP_LOG_FORMAT: expected one of auto, json, text"):
        Settings.from_env({"CHIRP_LOG_FORMAT": "yaml"})
