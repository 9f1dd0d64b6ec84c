-- One row per tunnel and currency: people whose subscribe history includes the tunnel, and
-- the paid orders of those people (each order once per tunnel, however many entries the
-- person has in it) with their summed price. Money is never summed across currencies.
-- Per entry: an order counts in every tunnel its buyer came through; do not sum the rows
-- (revenue_first_touch / revenue_last_touch count each paid order once; revenue_summary is the total).
-- materialized: table — an aggregate over the largest tables, rebuilt after every load;
-- as a view every dashboard query and data test would recompute it.
-- tests: unique(tunnel_id, currency); not_null(paid_orders)
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
