with client_messages as (
    select
        m.client_id,
        count(*) filter (where m.direction = 'inbound') as inbound_messages,
        count(*) filter (where m.direction = 'outbound') as outbound_messages
    from stg_messages m
    group by m.client_id
),

client_orders as (
    select
        o.client_id,
        count(*) as orders,
        count(*) filter (where o.is_successful) as successful_orders
    from stg_orders o
    group by o.client_id
),

channel_names as (
    select ch.messenger, ch.channel_group_id, min(ch.channel_name) as channel_name
    from stg_channels ch
    group by ch.messenger, ch.channel_group_id
),

per_channel as (
    select
        c.messenger,
        c.channel_group_id,
        count(*) as clients,
        count(*) filter (where coalesce(cm.inbound_messages, 0) > 0) as engaged_clients,
        count(*) filter (where coalesce(co.orders, 0) > 0) as ordering_clients,
        count(*) filter (where coalesce(co.successful_orders, 0) > 0) as successful_clients,
        coalesce(sum(cm.inbound_messages), 0) as inbound_messages,
        coalesce(sum(cm.outbound_messages), 0) as outbound_messages,
        coalesce(sum(co.orders), 0) as orders,
        coalesce(sum(co.successful_orders), 0) as successful_orders
    from stg_clients c
    left join client_messages cm on cm.client_id = c.client_id
    left join client_orders co on co.client_id = c.client_id
    group by c.messenger, c.channel_group_id
)

select
    p.messenger,
    p.channel_group_id,
    n.channel_name,
    p.clients,
    p.engaged_clients,
    p.ordering_clients,
    p.successful_clients,
    p.inbound_messages,
    p.outbound_messages,
    p.orders,
    p.successful_orders,
    cast(p.engaged_clients as double precision) / nullif(p.clients, 0) as engaged_share,
    cast(p.ordering_clients as double precision) / nullif(p.clients, 0) as ordering_share,
    cast(p.successful_clients as double precision) / nullif(p.ordering_clients, 0) as success_share
from per_channel p
left join channel_names n on n.messenger = p.messenger and n.channel_group_id = p.channel_group_id
order by p.messenger, p.channel_group_id
