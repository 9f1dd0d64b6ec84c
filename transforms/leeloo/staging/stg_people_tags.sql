select
    p.person_id,
    cast(t.value as text) as tag,
    cast(t._dlt_list_idx as bigint) as position
from raw.people__tags t
join stg_people p on p._dlt_id = t._dlt_parent_id
