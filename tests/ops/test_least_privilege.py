"""A least-privilege Postgres role: the schemas made by a superuser, the loader granted USAGE
and CREATE on each (docs/postgres.md) and nothing on the database. It loads, builds the
reports and exits 0; missing one grant, it is told which grant, on which schema, and the
SQL a DBA runs, before anything is loaded."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg2
import pytest

from pipelines.cli import main
from pipelines.errors import EXIT_USAGE
from tests.leeloo.truth import assert_matches_truth
from tests.warehouse import Warehouse
from transforms.models import load_models

pytestmark = pytest.mark.postgres


@dataclass
class Loader:
    role: str
    dataset: str
    dsn: str  # the role's own connection string (the server trusts 127.0.0.1)

    @property
    def schemas(self) -> list[str]:
        return [self.dataset, f"{self.dataset}_staging", f"{self.dataset}_reports"]


def _admin(pg_dsn: str, *statements: str) -> list[tuple]:
    with psycopg2.connect(pg_dsn) as conn, conn.cursor() as cur:
        rows: list[tuple] = []
        for statement in statements:
            cur.execute(statement)
            rows = cur.fetchall() if cur.description else []
        return rows


@pytest.fixture
def loader(pg_dsn: str, unique_dataset: str, dlt_env: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[Loader]:
    """A login role with the documented grants only, on schemas a superuser made."""
    role = f"cf_loader_{uuid.uuid4().hex[:8]}"
    found = Loader(role, unique_dataset, re.sub(r"//[^@]*@", f"//{role}:any@", pg_dsn))
    _admin(pg_dsn, f'create role "{role}" login',
           *(f'create schema "{s}"' for s in found.schemas),
           *(f'grant usage, create on schema "{s}" to "{role}"' for s in found.schemas))
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", found.dsn)
    yield found
    _admin(pg_dsn, *(f'drop schema if exists "{s}" cascade' for s in found.schemas),
           f'drop owned by "{role}"', f'drop role "{role}"')


def _run(loader: Loader) -> int:
    return main(["run", "leeloo", "--destination", "postgres", "--dataset", loader.dataset, "--progress", "none"])


def test_documented_grants_load_build_the_reports_and_exit_0(
    emulator: Callable[..., object], loader: Loader, pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    emu = emulator(scale=30)
    rights = _admin(pg_dsn, f"select has_database_privilege('{loader.role}', current_database(), 'CREATE')")
    assert rights == [(False,)], "the role must not be able to create schemas in the database"

    assert _run(loader) == 0, capsys.readouterr().err
    assert _run(loader) == 0, capsys.readouterr().err  # the second night: the schemas exist, nothing is created
    runs = _admin(pg_dsn, f'select count(*) from "{loader.dataset}"._chatfunnel_runs')
    assert runs == [(2,)], "both nights recorded in the warehouse by the loader role, none journaled"

    assert_matches_truth(Warehouse("postgres", loader.dataset, pg_dsn=pg_dsn), emu.truth())  # type: ignore[attr-defined]
    built = _admin(pg_dsn, "select count(*) from information_schema.tables where table_schema = "
                           f"'{loader.dataset}_reports'")[0][0]
    assert built == len(load_models("leeloo"))
    funnel = _admin(pg_dsn, f'select count(distinct tunnel_id) from "{loader.dataset}_reports".tunnel_funnel')
    raw = _admin(pg_dsn, f'select count(distinct tunnel_id) from "{loader.dataset}".tunnel_stats')
    assert funnel == raw and raw[0][0] > 0

    assert main(["transform", "leeloo", "--destination", "postgres", "--dataset", loader.dataset]) == 0, \
        capsys.readouterr().err
    capsys.readouterr()
    assert main(["status", "leeloo", "--destination", "postgres", "--dataset", loader.dataset]) == 0
    out = capsys.readouterr().out
    assert "last successful run: never" not in out and "success" in out


@pytest.mark.parametrize(("revoke", "schema_suffix", "right"), [
    ("create", "_staging", "CREATE"),
    ("usage", "_reports", "USAGE"),
])
def test_a_missing_grant_is_named_with_the_sql_that_gives_it(
    emulator: Callable[..., object], loader: Loader, pg_dsn: str, capsys: pytest.CaptureFixture[str],
    revoke: str, schema_suffix: str, right: str,
) -> None:
    emulator(scale=10)
    schema = loader.dataset + schema_suffix
    _admin(pg_dsn, f'revoke {revoke} on schema "{schema}" from "{loader.role}"')

    assert _run(loader) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"the role `{loader.role}` lacks {right} on schema `{schema}`" in err
    grant = f'grant {revoke} on schema "{schema}" to "{loader.role}"'
    assert f"a DBA runs `{grant}`" in err
    assert "Traceback" not in err and "recover step" not in err
    loaded = _admin(pg_dsn, f"select count(*) from information_schema.tables where table_schema = '{loader.dataset}'")
    assert loaded == [(0,)], "nothing may be loaded before the rights are there"

    _admin(pg_dsn, grant)  # the DBA runs what the message says
    assert _run(loader) == 0, capsys.readouterr().err


def test_a_missing_schema_names_the_schema_to_create(
    emulator: Callable[..., object], loader: Loader, pg_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator(scale=10)
    staging = f"{loader.dataset}_staging"
    _admin(pg_dsn, f'drop schema "{staging}"')

    assert _run(loader) == EXIT_USAGE
    err = capsys.readouterr().err
    create = f'create schema "{staging}" authorization "{loader.role}"'
    assert f"the schema `{staging}` does not exist" in err and f"a DBA runs `{create}`" in err

    _admin(pg_dsn, create)
    assert _run(loader) == 0, capsys.readouterr().err
