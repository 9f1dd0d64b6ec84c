-- One row per first touch (tunnel and traffic source of the first subscribe-history entry;
-- NULL: no history) and ISO week (Monday, reports_timezone) of first contact: the people
-- first in contact that week, those who paid since (a paid status at any point), the share
-- still unpaid, and the
-- 25th, 50th, 75th and 90th percentiles (interpolated) of the hours from first contact
-- to first payment. First contact: the earliest of the person's channels' creation (a
-- subscription) and their first message on any channel. First payment: the earliest
-- paid status change of any of their orders (Leeloo's updatedAt; when the run saw it if
-- there is none). A person who paid without an observed change counts as paid, not in
-- the hours. order_timing measures one order from creation to paid instead.
-- materialized: table — an aggregate over every message and order, rebuilt after every load.
-- tests: unique(tunnel_id, traffic_source_id, week_start); not_null(week_start, people, paid_people)
-- tests: share(unpaid_share)
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

first_entries as (
    select h.person_id, h.tunnel_id, h.traffic_source_id
    from stg_subscribe_history h
    where not exists (
        select 1 from stg_subscribe_history earlier
        where earlier.person_id = h.person_id and earlier.position < h.position
    )
),

people as (
    select
        f.tunnel_id,
        f.traffic_source_id,
        cast(date_trunc('week', c.first_contact_at at time zone reports_timezone()) as date) as week_start,
        p.person_id is not null as paid,
        (extract(epoch from p.first_paid_at) - extract(epoch from c.first_contact_at)) / 3600.0 as hours_to_pay
    from first_contact c
    left join first_entries f on c.person_id = f.person_id
    left join first_paid p on c.person_id = p.person_id
)

select
    tunnel_id,
    traffic_source_id,
    week_start,
    count(*) as people,
    count(*) filter (where paid) as paid_people,
    cast(count(*) filter (where not paid) as double precision) / count(*) as unpaid_share,
    percentile_cont(0.25) within group (order by hours_to_pay) as p25_hours_to_pay,
    percentile_cont(0.5) within group (order by hours_to_pay) as median_hours_to_pay,
    percentile_cont(0.75) within group (order by hours_to_pay) as p75_hours_to_pay,
    percentile_cont(0.9) within group (order by hours_to_pay) as p90_hours_to_pay
from people
group by tunnel_id, traffic_source_id, week_start
