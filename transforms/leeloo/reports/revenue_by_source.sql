with entries as (
    select distinct h.tunnel_id, h.leadgentool_id, h.traffic_source_id, h.person_id
    from stg_subscribe_history h
)

select
    e.tunnel_id,
    e.leadgentool_id,
    e.traffic_source_id,
    o.currency,
    count(*) as paid_orders,
    sum(o.price) as revenue
from entries e
join stg_orders o on o.person_id = e.person_id
where o.is_paid
group by e.tunnel_id, e.leadgentool_id, e.traffic_source_id, o.currency
