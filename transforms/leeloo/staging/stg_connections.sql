-- One row per messenger connection (a bot/page connected to the account; latest version).
-- tests: unique(connection_id); not_null(connection_id)
with versions as (
    select
        cast(c.id as text) as connection_id,
        upper(trim(cast(c.type as text))) as connection_type,
        cast(c.name as text) as connection_name,
        rank() over (partition by c.id order by c._dlt_load_id desc) as version_rank
    from raw.connections c
)

select connection_id, connection_type, connection_name
from versions
where version_rank = 1
