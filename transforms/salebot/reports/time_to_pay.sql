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
    percentiles(hours_to_pay, 0.25, 0.5, 0.75, 0.9)  -- noqa: AL03
from clients
group by messenger, channel_group_id, week_start
