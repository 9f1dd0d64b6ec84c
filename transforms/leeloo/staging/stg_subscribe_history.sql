select
    p.person_id,
    cast(h._dlt_list_idx as bigint) as position,
    cast(h.tunnel_id as text) as tunnel_id,
    nullif(trim(cast(h.tunnel_name as text)), '') as tunnel_name,
    cast(h.leadgentool_id as text) as leadgentool_id,
    nullif(trim(cast(h.leadgentool_name as text)), '') as leadgentool_name,
    cast(h.traffic_source_id as text) as traffic_source_id,
    nullif(trim(cast(h.traffic_source as text)), '') as traffic_source,
    cast(h.account_id as text) as account_id
from raw.people__subscribe_history h
join stg_people p on p._dlt_id = h._dlt_parent_id
where not exists (
    select 1 from raw.tunnels t
    where
        cast(t.id as text) = cast(h.tunnel_id as text)
        and t.deleted_at is not null
        and newest_version(t.id)
)
and not exists (
    select 1 from raw.leadgentools l
    where
        cast(l.id as text) = cast(h.leadgentool_id as text)
        and l.deleted_at is not null
        and newest_version(l.id)
)
