with versions as (
    select
        cast(t.id as text) as tunnel_id,
        cast(t.name as text) as tunnel_name,
        cast(t.created_at as timestamptz) as created_at,
        cast(t.updated_at as timestamptz) as updated_at
    from raw.tunnels t
    where t.deleted_at is null and newest_version(t.id)
)

select tunnel_id, tunnel_name, created_at, updated_at
from versions
