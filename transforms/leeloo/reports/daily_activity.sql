with channel_days as (
    select cast(c.created_at at time zone reports_timezone() as date) as day, count(*) as new_channels
    from stg_channels c
    where c.created_at is not null
    group by cast(c.created_at at time zone reports_timezone() as date)
),

message_days as (
    select
        cast(m.created_at at time zone reports_timezone() as date) as day,
        count(*) filter (where m.message_type = 'FRIEND_MESSAGE') as inbound_messages,
        count(*) filter (where m.message_type in ('BOT_MESSAGE', 'YOUR_MESSAGE')) as outbound_messages
    from stg_chat_messages m
    where m.created_at is not null
    group by cast(m.created_at at time zone reports_timezone() as date)
),

order_days as (
    select
        cast(o.created_at at time zone reports_timezone() as date) as day,
        count(*) as orders_created,
        count(*) filter (where o.is_paid) as paid_orders_created
    from stg_orders o
    where o.created_at is not null
    group by cast(o.created_at at time zone reports_timezone() as date)
),

active_days as (
    select day from channel_days
    union
    select day from message_days
    union
    select day from order_days
),

days as (
    select cast(g.day as date) as day
    from (select min(day) as first_day, max(day) as last_day from active_days) b
    cross join lateral generate_series(b.first_day, b.last_day, interval '1 day') g (day)
)

select
    d.day as "date",
    coalesce(c.new_channels, 0) as new_channels,
    coalesce(m.inbound_messages, 0) as inbound_messages,
    coalesce(m.outbound_messages, 0) as outbound_messages,
    coalesce(o.orders_created, 0) as orders_created,
    coalesce(o.paid_orders_created, 0) as paid_orders_created
from days d
left join channel_days c on c.day = d.day
left join message_days m on m.day = d.day
left join order_days o on o.day = d.day
