-- One row per tunnel (Leeloo's name for a sales funnel; latest version) the API still has.
-- tests: unique(tunnel_id); not_null(tunnel_id); no_future(created_at, updated_at)
with versions as (
    select
        cast(t.id as text) as tunnel_id,
        cast(t.name as text) as tunnel_name,
        cast(t.created_at as timestamptz) as created_at,
        cast(t.updated_at as timestamptz) as updated_at
    from raw.tunnels t
    -- the latest load of each key, unless the API no longer has it (deleted_at set; the raw
    -- row stays for audit); two rows of one key in the SAME load are kept, so that the
    -- unique() test reports them instead of one being picked at random
    where t.deleted_at is null and not exists (
        select 1 from raw.tunnels newer
        where newer.id = t.id and newer._dlt_load_id > t._dlt_load_id
    )
)

select tunnel_id, tunnel_name, created_at, updated_at
from versions
