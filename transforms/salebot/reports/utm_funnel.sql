with engaged as (
    select distinct m.client_id from stg_messages m
    where m.direction = 'inbound'
),

orderers as (
    select distinct o.client_id from stg_orders o
),

successful as (
    select distinct o.client_id from stg_orders o
    where o.is_successful
),

counts as (
    select
        u.utm_source,
        u.utm_medium,
        u.utm_campaign,
        count(*) as clients,
        count(e.client_id) as engaged_clients,
        count(o.client_id) as ordering_clients,
        count(s.client_id) as successful_clients
    from stg_clients c
    left join stg_client_utm u on u.client_id = c.client_id
    left join engaged e on e.client_id = c.client_id
    left join orderers o on o.client_id = c.client_id
    left join successful s on s.client_id = c.client_id
    group by u.utm_source, u.utm_medium, u.utm_campaign
)

select
    utm_source,
    utm_medium,
    utm_campaign,
    clients,
    engaged_clients,
    ordering_clients,
    successful_clients,
    cast(engaged_clients as double precision) / nullif(clients, 0) as engaged_share,
    cast(ordering_clients as double precision) / nullif(clients, 0) as ordering_share,
    cast(successful_clients as double precision) / nullif(clients, 0) as success_share
from counts
