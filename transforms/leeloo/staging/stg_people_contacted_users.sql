-- One row per user (manager) who contacted a person, from the person's detail (latest version).
-- tests: not_null(person_id, user_id)
select
    p.person_id,
    cast(l.id as text) as user_id,
    cast(l.type as text) as link_type
from raw.people__links__contacted_users l
join stg_people p on p._dlt_id = l._dlt_parent_id
