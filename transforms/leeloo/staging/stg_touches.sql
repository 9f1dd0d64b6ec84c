select
    'first' as touch,
    h.person_id,
    h.tunnel_id,
    h.tunnel_name,
    h.leadgentool_id,
    h.traffic_source_id
from stg_subscribe_history h
where
    not exists (
        select 1 from stg_subscribe_history earlier
        where earlier.person_id = h.person_id and earlier.position < h.position
    )
union all
select
    'last' as touch,
    h.person_id,
    h.tunnel_id,
    h.tunnel_name,
    h.leadgentool_id,
    h.traffic_source_id
from stg_subscribe_history h
where not exists (
    select 1 from stg_subscribe_history later
    where later.person_id = h.person_id and later.position > h.position
)
