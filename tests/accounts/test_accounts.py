"""An agency's accounts side by side: each into its own dataset equal to its own API, one
picked with --account, one failing without stopping the others, and every report across
accounts in `leeloo_accounts` with a leading `account` column."""

from __future__ import annotations

import pytest

from pipelines.cli import main
from pipelines.config.accounts import Account
from pipelines.warehouse.account_pipeline import pipeline_name
from tests.leeloo.truth import assert_matches_truth
from tests.warehouse import Warehouse

ACCOUNTS = {"acme": 40, "globex": 30, "initech": 25}


def _warehouse(target, dataset: str) -> Warehouse:
    return Warehouse(target.destination, dataset, duckdb_path=target.warehouse.duckdb_path,
                     pg_dsn=target.warehouse.pg_dsn)


def _args(target) -> list[str]:
    return ["run", "leeloo", "--destination", target.destination, "--progress", "none"]


@pytest.fixture
def accounts_target(target, unique_dataset_prefix):
    return target


@pytest.fixture
def unique_dataset_prefix(target, request):
    """On Postgres the account datasets are shared schemas: clean them before and after."""
    if target.destination != "postgres":
        yield
        return
    import psycopg2

    def drop() -> None:
        with psycopg2.connect(target.warehouse.pg_dsn) as conn, conn.cursor() as cur:
            cur.execute("select nspname from pg_namespace where nspname ~ '^leeloo_(acme|globex|initech|accounts)'")
            for (schema,) in cur.fetchall():
                cur.execute(f'drop schema if exists "{schema}" cascade')

    drop()
    yield
    drop()


def test_every_account_loads_into_its_own_dataset_side_by_side(agency, accounts_target, capsys) -> None:
    target = accounts_target
    emulators = agency(ACCOUNTS)
    assert main([*_args(target), "--parallel-accounts", "3"]) == 0, capsys.readouterr().err
    out = capsys.readouterr()
    for name, emu in emulators.items():
        assert_matches_truth(_warehouse(target, f"leeloo_{name}"), emu.truth())
        assert f"leeloo/{name}: loaded into {target.destination} dataset 'leeloo_{name}'" in out.out + out.err
    rows = _warehouse(target, "leeloo_accounts").query(
        "select account, count(distinct tunnel_id) from {ds}.tunnel_funnel group by account order by account")
    assert rows == [(name, len(emulators[name].truth()["tunnels"])) for name in sorted(ACCOUNTS)]
    views = {r[0] for r in _warehouse(target, "leeloo_accounts").query(
        "select table_name from information_schema.tables where table_schema = 'leeloo_accounts'")}
    assert {"tunnel_funnel", "daily_activity", "source_funnel", "order_timing"} <= views
    # the next night each extract reads its warehouse back while the others load into it
    for emu in emulators.values():
        emu.simulate(active_people=5, new_people=3, new_orders=2, status_changes=2)
    assert main([*_args(target), "--parallel-accounts", "3"]) == 0, capsys.readouterr().err
    for name, emu in emulators.items():
        assert_matches_truth(_warehouse(target, f"leeloo_{name}"), emu.truth())


def test_one_account_is_picked_and_a_failing_one_does_not_stop_the_others(agency, accounts_target,
                                                                          capsys) -> None:
    target = accounts_target
    emulators = agency(ACCOUNTS, wrong_token_for="globex")
    assert main([*_args(target), "--account", "acme"]) == 0
    assert [e.request_counts()["total"] > 0 for e in emulators.values()] == [True, False, False]
    capsys.readouterr()
    assert main(_args(target)) == 1
    err = capsys.readouterr().err
    assert "leeloo/globex API refused the credentials" in err
    assert "SOURCES__LEELOO__ACCOUNTS__GLOBEX__API_TOKEN" in err
    assert "wrong-token-zzzzzzzzzzzz" not in err
    for name in ("acme", "initech"):
        assert_matches_truth(_warehouse(target, f"leeloo_{name}"), emulators[name].truth())
    assert main(["status", "leeloo", "--destination", target.destination]) == 1
    out = capsys.readouterr().out
    assert "leeloo/acme" in out and "leeloo/globex" in out and "leeloo/initech" in out


def test_an_account_without_its_own_token_is_not_an_account(agency, duck_target, dlt_env, capsys) -> None:
    """A section that would inherit the unnamed account's token must not load someone
    else's data into its dataset."""
    agency({"acme": 10})
    secrets = dlt_env / ".dlt" / "secrets.toml"
    secrets.write_text(secrets.read_text() + '\n[sources.leeloo.accounts.nokey]\nbase_url = "http://x"\n')
    assert main(["run", "leeloo", "--account", "nokey", "--progress", "none"]) == 2
    assert "No configured account named nokey" in capsys.readouterr().err


def test_a_failed_cross_account_step_is_an_error_and_the_loads_stand(agency, duck_target, capsys) -> None:
    """The views across accounts come after every account's own load: when they cannot be
    built (here a table stands where a view goes), the command says so on stderr and exits
    1, and each account's data and reports stay loaded."""
    import duckdb

    emulators = agency({"acme": 20, "globex": 20})
    assert main(_args(duck_target)) == 0
    with duckdb.connect(str(duck_target.warehouse.duckdb_path)) as con:
        con.execute("drop view leeloo_accounts.tunnel_funnel")
        con.execute("create table leeloo_accounts.tunnel_funnel (squatter int)")
    capsys.readouterr()
    assert main(_args(duck_target)) == 1
    out, err = capsys.readouterr()
    assert "chatfunnel: error: The leeloo cross-account views were not rebuilt" in err, err
    assert "were not rebuilt" not in out, "the error goes to stderr only"
    assert "BI snapshot published" in out, "the accounts' own reports are still published"
    for name, emu in emulators.items():
        assert_matches_truth(_warehouse(duck_target, f"leeloo_{name}"), emu.truth())


LONGEST = "initech_" + "x" * 32  # an account name at its limit of 40 characters


def test_an_account_with_the_longest_name_loads_on_every_destination(agency, accounts_target, capsys) -> None:
    """dlt refuses a schema name over 64 characters, and a pipeline's default schema is named
    after the pipeline: `chatfunnel_leeloo_<account>_postgres` passed it at 36 characters."""
    target = accounts_target
    emulators = agency({LONGEST: 20})
    assert main(_args(target)) == 0, capsys.readouterr().err
    assert_matches_truth(_warehouse(target, f"leeloo_{LONGEST}"), emulators[LONGEST].truth())
    tested = _warehouse(target, f"leeloo_{LONGEST}_reports").query(
        "select count(*) from {ds}.tunnel_funnel")
    assert tested[0][0] > 0


def test_a_pipeline_name_too_long_for_dlt_is_shortened_and_stays_apart() -> None:
    """Names that fit are never changed (an upgrade finds its state); longer ones keep their
    start and end in a hash of the whole."""
    assert pipeline_name(Account("leeloo"), "postgres") == "chatfunnel_leeloo_postgres"
    assert pipeline_name(Account("salebot", "acme"), "filesystem", "shop") == "chatfunnel_salebot_acme_filesystem_shop"
    long_ones = {pipeline_name(Account(source, LONGEST[:-1] + last), destination, dataset)
                 for source in ("leeloo", "salebot") for last in "xy" for destination in ("duckdb", "postgres")
                 for dataset in (None, "d" * 55)}
    assert len(long_ones) == 16 and all(len(name) <= 64 and name.isidentifier() for name in long_ones)
