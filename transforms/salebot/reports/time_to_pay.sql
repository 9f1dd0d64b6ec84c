-- One row per messenger, bot (channel group of the client) and ISO week (Monday,
-- reports_timezone) of the client's first contact (the earliest of the client's creation
-- and their first message): the clients first in contact that week, those with a
-- successful order (status 1) at any point since, the share still without one, and the
-- 25th, 50th, 75th and 90th percentiles (interpolated) of the hours from first contact to
-- the first time a run SAW one of their orders successful. Salebot gives no time of an
-- order's creation or success, so the hours are an upper bound, as coarse as the runs;
-- a client seen with a successful order without a change observed counts as successful,
-- not in the hours.
-- tests: unique(messenger, channel_group_id, week_start); not_null(week_start, clients, successful_clients)
-- tests: share(unpaid_share)
with contact_events as (
    select c.client_id, c.created_at as contact_at from stg_clients c
    union all
    select m.client_id, min(m.created_at) as contact_at
    from stg_messages m
    group by m.client_id
),

first_contact as (
    select e.client_id, min(e.contact_at) as first_contact_at
    from contact_events e
    join stg_clients c on e.client_id = c.client_id
    where e.contact_at is not null
    group by e.client_id
),

first_success as (
    select o.client_id, min(ch.observed_at) as first_success_at
    from stg_orders o
    left join stg_order_status_changes ch on o.order_id = ch.order_id and ch.new_status_name = 'success'
    where o.is_successful or ch.order_id is not null
    group by o.client_id
),

clients as (
    select
        c.messenger,
        c.channel_group_id,
        cast(date_trunc('week', f.first_contact_at at time zone reports_timezone()) as date) as week_start,
        s.client_id is not null as paid,
        (extract(epoch from s.first_success_at) - extract(epoch from f.first_contact_at)) / 3600.0 as hours_to_pay
    from first_contact f
    join stg_clients c on f.client_id = c.client_id
    left join first_success s on f.client_id = s.client_id
)

select
    messenger,
    channel_group_id,
    week_start,
    count(*) as clients,
    count(*) filter (where paid) as successful_clients,
    cast(count(*) filter (where not paid) as double precision) / count(*) as unpaid_share,
    percentile_cont(0.25) within group (order by hours_to_pay) as p25_hours_to_pay,
    percentile_cont(0.5) within group (order by hours_to_pay) as median_hours_to_pay,
    percentile_cont(0.75) within group (order by hours_to_pay) as p75_hours_to_pay,
    percentile_cont(0.9) within group (order by hours_to_pay) as p90_hours_to_pay
from clients
group by messenger, channel_group_id, week_start
