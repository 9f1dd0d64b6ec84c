with members as (
    select distinct h.tunnel_id, h.person_id
    from stg_subscribe_history h
)

select
    m.tunnel_id,
    o.currency,
    count(distinct m.person_id) as paying_people,
    count(*) as paid_orders,
    sum(o.price) as revenue
from members m
join stg_orders o on o.person_id = m.person_id
where o.is_paid
group by m.tunnel_id, o.currency
