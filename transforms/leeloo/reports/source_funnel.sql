with engaged as (
    select distinct c.person_id
    from stg_channels c
    join stg_chat_messages m on m.channel_id = c.channel_id
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
        h.tunnel_id,
        h.leadgentool_id,
        h.traffic_source_id,
        max(h.tunnel_name) as history_tunnel_name,
        max(h.leadgentool_name) as history_leadgentool_name,
        max(h.traffic_source) as traffic_source,
        count(distinct h.person_id) as people,
        count(distinct case when e.person_id is not null then h.person_id end) as engaged_people,
        count(distinct case when o.person_id is not null then h.person_id end) as ordering_people,
        count(distinct case when p.person_id is not null then h.person_id end) as paying_people
    from stg_subscribe_history h
    left join engaged e on e.person_id = h.person_id
    left join orderers o on o.person_id = h.person_id
    left join payers p on p.person_id = h.person_id
    group by h.tunnel_id, h.leadgentool_id, h.traffic_source_id
)

select
    c.tunnel_id,
    c.leadgentool_id,
    c.traffic_source_id,
    coalesce(t.tunnel_name, c.history_tunnel_name) as tunnel_name,
    coalesce(l.leadgentool_name, c.history_leadgentool_name) as leadgentool_name,
    c.traffic_source,
    c.people,
    c.engaged_people,
    c.ordering_people,
    c.paying_people,
    cast(c.engaged_people as double precision) / nullif(c.people, 0) as engaged_share,
    cast(c.ordering_people as double precision) / nullif(c.people, 0) as ordering_share,
    cast(c.paying_people as double precision) / nullif(c.people, 0) as paying_share
from counts c
left join stg_tunnels t on t.tunnel_id = c.tunnel_id
left join stg_leadgentools l on l.leadgentool_id = c.leadgentool_id
