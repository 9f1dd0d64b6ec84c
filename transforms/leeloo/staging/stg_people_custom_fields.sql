select
    p.person_id,
    cast(f.type as text) as field_type,
    cast(f.name as text) as field_name,
    case
        when upper(trim(cast(f.value as text))) in ('', 'NOT_DEFINED', 'NO_DATA') then null
        else cast(f.value as text)
    end as value
from raw.people__custom_fields f
join stg_people p on p._dlt_id = f._dlt_parent_id
