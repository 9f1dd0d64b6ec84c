select
    cast(s.order_id as text) as order_id,
    nullif(upper(trim(cast(s.old_status as text))), '') as old_status,
    upper(trim(cast(s.new_status as text))) as new_status,
    coalesce(upper(trim(cast(s.new_status as text))) in ('RESOLVED', 'SUCCESS'), false) as is_paid,
    cast(s.price as numeric(38, 9)) as price,
    nullif(upper(trim(cast(s.currency as text))), '') as currency,
    cast(s.changed_at as timestamptz) as changed_at,
    cast(s.observed_at as timestamptz) as observed_at
from raw.order_status_changes s
where not exists (
    select 1 from raw.orders o
    where
        cast(o.id as text) = cast(s.order_id as text)
        and o.deleted_at is not null
        and newest_version(o.id)
)
