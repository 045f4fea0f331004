"""The migration runner: each file once, in order, under an advisory lock, refusing edited history."""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from yarl import URL

from config import Settings
from storage.migrations import MIGRATIONS_DIR, MigrationError, apply_migrations, load_migrations


@pytest.fixture
async def fresh_database(base_settings: Settings) -> AsyncIterator[str]:
    """An empty database of its own on the test server, dropped afterwards."""
    name = f"migrations_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(base_settings.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield str(URL(base_settings.database_url).with_path(f"/{name}"))
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def applied_versions(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        await conn.close()


async def test_concurrent_starts_apply_each_migration_exactly_once(fresh_database: str) -> None:
    results = await asyncio.gather(*(apply_migrations(fresh_database) for _ in range(6)))
    expected = [m.name for m in load_migrations()]
    # One process did all the work; the others found nothing left to do.
    assert sorted(results, key=len, reverse=True) == [expected] + [[]] * 5
    assert await applied_versions(fresh_database) == [m.version for m in load_migrations()]


async def test_a_second_run_applies_nothing(fresh_database: str) -> None:
    await apply_migrations(fresh_database)
    assert await apply_migrations(fresh_database) == []


async def test_an_edited_migration_stops_the_start(fresh_database: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    await apply_migrations(fresh_database, directory)
    first = sorted(directory.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
    with pytest.raises(MigrationError, match=f"{first.name} was edited after it was applied"):
        await apply_migrations(fresh_database, directory)


async def test_a_removed_migration_stops_the_start(fresh_database: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, directory)
    await apply_migrations(fresh_database, directory)
    first = sorted(directory.glob("*.sql"))[0]
    first.unlink()
    with pytest.raises(MigrationError, match="its file is gone"):
        await apply_migrations(fresh_database, directory)


async def test_a_failing_migration_leaves_nothing_behind(fresh_database: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    directory.mkdir()
    (directory / "0001_good.sql").write_text("CREATE TABLE kept (id int);")
    (directory / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT no_such_function();")
    with pytest.raises(asyncpg.UndefinedFunctionError):
        await apply_migrations(fresh_database, directory)
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT to_regclass('kept')") == "kept"
    finally:
        await conn.close()
    assert await applied_versions(fresh_database) == [1]


def test_badly_named_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNNN_lower_snake\.sql"):
        load_migrations(tmp_path)
