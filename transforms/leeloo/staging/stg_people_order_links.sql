select
    p.person_id,
    cast(l.id as text) as order_id,
    cast(l.type as text) as link_type
from raw.people__links__orders l
join stg_people p on p._dlt_id = l._dlt_parent_id
