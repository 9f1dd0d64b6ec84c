with changes as (
    select
        cast(s.order_id as text) as order_id,
        lower(trim(cast(s.old_status as text))) as old_status,
        lower(trim(cast(s.new_status as text))) as new_status,
        cast(s.old_state_id as text) as old_state_id,
        cast(s.new_state_id as text) as new_state_id,
        cast(s.changed_at as timestamptz) as changed_at,
        cast(s.observed_at as timestamptz) as observed_at
    from raw.order_status_changes s
),

-- orders that are gone, or whose client is: their history went with them
gone_orders as (
    select cast(o.id as text) as order_id
    from raw.orders o
    where
        newest_version(o.id)
        and (
            o.deleted_at is not null
            or exists (
                select 1 from raw.clients c
                where
                    cast(c.id as text) = cast(o.client_id as text)
                    and c.deleted_at is not null
                    and newest_version(c.id)
            )
        )
)

-- a status is 0/1/2 as get_orders lists it; a name is accepted as well
select
    ch.order_id,
    case ch.old_status when '0' then 'active' when '1' then 'success' when '2' then 'failed' else ch.old_status end
        as old_status_name,
    case ch.new_status when '0' then 'active' when '1' then 'success' when '2' then 'failed' else ch.new_status end
        as new_status_name,
    ch.old_state_id,
    ch.new_state_id,
    ch.changed_at,
    ch.observed_at
from changes ch
where not exists (
    select 1 from gone_orders g
    where g.order_id = ch.order_id
)
