-- One row per CRM order the API still has, of a client it still has (latest version): its
-- status (0 active, 1 success, 2 failed, as get_orders lists it), the SalebotCRM funnel
-- state, and its creation window: the API documents no creation time, so the order was
-- created after created_after (the previous full read of its client; NULL when unknown:
-- the order was there at the first read) and by first_seen_at (the run that first saw it).
-- tests: unique(order_id); not_null(order_id, client_id, status_name)
-- tests: no_future(first_seen_at, created_after)
-- tests: orphans(client_id -> stg_clients.client_id)
with versions as (
    select
        cast(o.id as text) as order_id,
        cast(o.client_id as text) as client_id,
        cast(o.status as integer) as status,
        cast(o.state_id as text) as state_id,
        cast(o.first_seen_at as timestamptz) as first_seen_at,
        cast(o.created_after as timestamptz) as created_after
    from raw.orders o
    -- the latest load of each key, unless the API no longer has it (deleted_at set; the raw
    -- row stays for audit); two rows of one key in the SAME load are kept, so that the
    -- unique() test reports them instead of one being picked at random
    where o.deleted_at is null and not exists (
        select 1 from raw.orders newer
        where newer.id = o.id and newer._dlt_load_id > o._dlt_load_id
    )
    -- nor its client (the deletion cascade marks this row too; this holds before it runs)
    and not exists (
        select 1 from raw.clients gone
        where
            cast(gone.id as text) = cast(o.client_id as text)
            and gone.deleted_at is not null
            and not exists (
                select 1 from raw.clients gone_newer
                where gone_newer.id = gone.id and gone_newer._dlt_load_id > gone._dlt_load_id
            )
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
