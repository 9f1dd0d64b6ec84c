with versions as (
    select
        cast(l.id as text) as leadgentool_id,
        cast(l.tunnel_id as text) as tunnel_id,
        cast(l.name as text) as leadgentool_name,
        cast(l.type as text) as leadgentool_type
    from raw.leadgentools l
    where l.deleted_at is null and newest_version(l.id)
    -- nor is its tunnel (the deletion cascade marks this row too; this holds before it runs)
    and not exists (
        select 1 from raw.tunnels gone_tunnel
        where
            cast(gone_tunnel.id as text) = cast(l.tunnel_id as text)
            and gone_tunnel.deleted_at is not null
            and newest_version(gone_tunnel.id)
    )
)

select leadgentool_id, tunnel_id, leadgentool_name, leadgentool_type
from versions
