with inbound_channels as (
    select distinct m.channel_id
    from stg_chat_messages m
    where m.message_type = 'FRIEND_MESSAGE'
),

orderers as (
    select distinct person_id from stg_orders
),

payers as (
    select distinct person_id from stg_orders
    where is_paid
),

counts as (
    select
        c.utm_source,
        c.utm_medium,
        c.utm_campaign,
        count(distinct c.channel_id) as channels,
        count(distinct i.channel_id) as engaged_channels,
        count(distinct c.person_id) as people,
        count(distinct case when i.channel_id is not null then c.person_id end) as engaged_people,
        count(distinct o.person_id) as ordering_people,
        count(distinct p.person_id) as paying_people
    from stg_channels c
    left join inbound_channels i on i.channel_id = c.channel_id
    left join orderers o on o.person_id = c.person_id
    left join payers p on p.person_id = c.person_id
    group by c.utm_source, c.utm_medium, c.utm_campaign
)

select
    utm_source,
    utm_medium,
    utm_campaign,
    channels,
    engaged_channels,
    people,
    engaged_people,
    ordering_people,
    paying_people,
    cast(engaged_people as double precision) / nullif(people, 0) as engaged_share,
    cast(ordering_people as double precision) / nullif(people, 0) as ordering_share,
    cast(paying_people as double precision) / nullif(people, 0) as paying_share
from counts
