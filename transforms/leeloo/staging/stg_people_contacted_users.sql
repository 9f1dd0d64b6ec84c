select
    p.person_id,
    cast(l.id as text) as user_id,
    cast(l.type as text) as link_type
from raw.people__links__contacted_users l
join stg_people p on p._dlt_id = l._dlt_parent_id
