with versions as (
    select
        cast(o.id as text) as order_id,
        cast(o.client_id as text) as client_id,
        cast(o.status as integer) as status,
        cast(o.state_id as text) as state_id,
        cast(o.first_seen_at as timestamptz) as first_seen_at,
        cast(o.created_after as timestamptz) as created_after
    from raw.orders o
    where o.deleted_at is null and newest_version(o.id)
    -- nor its client (the deletion cascade marks this row too; this holds before it runs)
    and not exists (
        select 1 from raw.clients gone
        where
            cast(gone.id as text) = cast(o.client_id as text)
            and gone.deleted_at is not null
            and newest_version(gone.id)
    )
)

select
    order_id,
    client_id,
    status,
    case status when 0 then 'active' when 1 then 'success' when 2 then 'failed' else 'unknown' end as status_name,
    coalesce(status = 1, false) as is_successful,
    state_id,
    first_seen_at,
    created_after
from versions
