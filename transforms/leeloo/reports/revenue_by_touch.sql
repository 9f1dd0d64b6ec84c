with kinds as (
    select 'first' as touch
    union all
    select 'last' as touch
)

select
    k.touch,
    t.person_id is not null as attributed,
    t.tunnel_id,
    t.leadgentool_id,
    t.traffic_source_id,
    o.currency,
    count(*) as paid_orders,
    coalesce(sum(o.price), 0) as revenue
from stg_orders o
cross join kinds k
left join stg_touches t on o.person_id = t.person_id and k.touch = t.touch
where o.is_paid
group by k.touch, t.person_id is not null, t.tunnel_id, t.leadgentool_id, t.traffic_source_id, o.currency
