-- One row per tunnel (Leeloo's name for a sales funnel; latest version).
-- tests: unique(tunnel_id); not_null(tunnel_id); no_future(created_at, updated_at)
with versions as (
    select
        cast(t.id as text) as tunnel_id,
        cast(t.name as text) as tunnel_name,
        cast(t.created_at as timestamptz) as created_at,
        cast(t.updated_at as timestamptz) as updated_at,
        rank() over (partition by t.id order by t._dlt_load_id desc) as version_rank
    from raw.tunnels t
)

select tunnel_id, tunnel_name, created_at, updated_at
from versions
where version_rank = 1
