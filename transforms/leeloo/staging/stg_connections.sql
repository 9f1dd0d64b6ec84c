with versions as (
    select
        cast(c.id as text) as connection_id,
        upper(trim(cast(c.type as text))) as connection_type,
        cast(c.name as text) as connection_name
    from raw.connections c
    where c.deleted_at is null and newest_version(c.id)
)

select connection_id, connection_type, connection_name
from versions
