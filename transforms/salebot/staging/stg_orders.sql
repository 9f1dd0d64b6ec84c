-- One row per CRM order (latest version): its status (0 active, 1 success, 2 failed, as
-- get_orders lists it), the SalebotCRM funnel state, and its creation time when the order
-- variables carry one.
-- tests: unique(order_id); not_null(order_id, client_id, status_name); no_future(created_at)
-- tests: orphans(client_id -> stg_clients.client_id)
with versions as (
    select
        cast(o.id as text) as order_id,
        cast(o.client_id as text) as client_id,
        cast(o.status as integer) as status,
        cast(o.state_id as text) as state_id,
        cast(o.created_at as timestamptz) as created_at,
        rank() over (partition by o.id order by o._dlt_load_id desc) as version_rank
    from raw.orders o
)

select
    order_id,
    client_id,
    status,
    case status when 0 then 'active' when 1 then 'success' when 2 then 'failed' else 'unknown' end as status_name,
    coalesce(status = 1, false) as is_successful,
    state_id,
    created_at
from versions
where version_rank = 1
