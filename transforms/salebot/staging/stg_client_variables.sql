select
    cast(v.client_id as text) as client_id,
    cast(v.name as text) as name,
    cast(v.value as text) as value
from raw.client_variables v
where v.deleted_at is null and newest_version(v.client_id, v.name)
-- nor its client (the deletion cascade marks this row too; this holds before it runs)
and not exists (
    select 1 from raw.clients gone
    where
        cast(gone.id as text) = cast(v.client_id as text)
        and gone.deleted_at is not null
        and newest_version(gone.id)
)
