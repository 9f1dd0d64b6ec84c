-- One row per observed change of an order's status: the status before (NULL on the first
-- observation of an order, which counts as a change) and after, the price and currency
-- then, when Leeloo says it changed (the order's updatedAt) and when a run saw it. None for
-- an order the API no longer has. is_paid: the new status is paid (RESOLVED, SUCCESS).
-- tests: not_null(order_id, new_status, observed_at, is_paid); no_future(changed_at, observed_at)
-- tests: orphans(order_id -> stg_orders.order_id)
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
        and not exists (
            select 1 from raw.orders o_newer
            where o_newer.id = o.id and o_newer._dlt_load_id > o._dlt_load_id
        )
)
