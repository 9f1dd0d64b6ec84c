with contact_events as (
    select c.person_id, c.created_at as contact_at from stg_channels c
    union all
    select c.person_id, min(m.created_at) as contact_at
    from stg_chat_messages m
    join stg_channels c on m.channel_id = c.channel_id
    group by c.person_id
),

first_contact as (
    select e.person_id, min(e.contact_at) as first_contact_at
    from contact_events e
    join stg_people p on e.person_id = p.person_id
    where e.contact_at is not null
    group by e.person_id
),

first_paid as (
    select
        o.person_id,
        min(coalesce(c.changed_at, c.observed_at)) as first_paid_at
    from stg_orders o
    left join stg_order_status_changes c on o.order_id = c.order_id and c.is_paid
    where o.is_paid or c.order_id is not null
    group by o.person_id
),

people as (
    select
        f.tunnel_id,
        f.traffic_source_id,
        cast(date_trunc('week', c.first_contact_at at time zone reports_timezone()) as date) as week_start,
        p.person_id is not null as paid,
        (extract(epoch from p.first_paid_at) - extract(epoch from c.first_contact_at)) / 3600.0 as hours_to_pay
    from first_contact c
    left join stg_touches f on c.person_id = f.person_id and f.touch = 'first'
    left join first_paid p on c.person_id = p.person_id
)

select
    tunnel_id,
    traffic_source_id,
    week_start,
    count(*) as people,
    count(*) filter (where paid) as paid_people,
    cast(count(*) filter (where not paid) as double precision) / count(*) as unpaid_share,
    percentiles(hours_to_pay, 0.25, 0.5, 0.75, 0.9)  -- noqa: AL03
from people
group by tunnel_id, traffic_source_id, week_start
