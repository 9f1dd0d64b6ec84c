-- One row per messenger connection (a bot/page connected to the account; latest version)
-- the API still has.
-- tests: unique(connection_id); not_null(connection_id)
with versions as (
    select
        cast(c.id as text) as connection_id,
        upper(trim(cast(c.type as text))) as connection_type,
        cast(c.name as text) as connection_name
    from raw.connections c
    -- the latest load of each key, unless the API no longer has it (deleted_at set; the raw
    -- row stays for audit); two rows of one key in the SAME load are kept, so that the
    -- unique() test reports them instead of one being picked at random
    where c.deleted_at is null and not exists (
        select 1 from raw.connections newer
        where newer.id = c.id and newer._dlt_load_id > c._dlt_load_id
    )
)

select connection_id, connection_type, connection_name
from versions
