"""Which grant a Postgres role lacks, decided from what the catalog says (no database needed)."""

from __future__ import annotations

from pipelines.warehouse.permissions import SchemaRights, dataset_schemas, missing_grants

ALL = SchemaRights(exists=True, usage=True, create=True)


def test_the_documented_grants_are_enough() -> None:
    schemas = dict.fromkeys(dataset_schemas("leeloo"), ALL)
    assert missing_grants("loader", "analytics", schemas, create_on_database=False) == []


def test_each_missing_right_is_named_with_its_sql() -> None:
    schemas = {"leeloo": ALL, "leeloo_staging": SchemaRights(True, usage=True, create=False),
               "leeloo_reports": SchemaRights(True, usage=False, create=False)}
    found = missing_grants("loader", "analytics", schemas, create_on_database=False)
    assert [(m.name, m.rights) for m in found] == [("leeloo_staging", ("CREATE",)),
                                                   ("leeloo_reports", ("USAGE", "CREATE"))]
    assert found[1].grant_sql() == 'grant usage, create on schema "leeloo_reports" to "loader"'
    assert "lacks USAGE and CREATE on schema `leeloo_reports`" in found[1].describe()


def test_a_missing_schema_needs_create_on_the_database_only_when_the_role_cannot_make_it() -> None:
    schemas = {"leeloo": ALL, "leeloo_staging": SchemaRights(exists=False)}
    assert missing_grants("loader", "analytics", schemas, create_on_database=True) == []
    [missing] = missing_grants("loader", "analytics", schemas, create_on_database=False)
    assert missing.grant_sql() == 'create schema "leeloo_staging" authorization "loader"'
    assert "the schema `leeloo_staging` does not exist" in missing.describe()


def test_temporary_on_the_database_is_named() -> None:
    schemas = dict.fromkeys(dataset_schemas("leeloo", reports=False), ALL)
    [missing] = missing_grants("loader", "analytics", schemas, create_on_database=False, temporary_on_database=False)
    assert missing.grant_sql() == 'grant temporary on database "analytics" to "loader"'
