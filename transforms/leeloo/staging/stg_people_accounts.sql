select
    p.person_id,
    cast(a.account_id as text) as account_id,
    cast(a.connection_id as text) as connection_id,
    cast(a.connection_status as text) as connection_status,
    upper(trim(cast(a."from" as text))) as messenger
from raw.people__accounts a
join stg_people p on p._dlt_id = a._dlt_parent_id
