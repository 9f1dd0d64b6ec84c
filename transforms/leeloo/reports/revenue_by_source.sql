-- One row per subscribe-history entry (tunnel_id, leadgentool_id, traffic_source_id) and
-- currency: the paid orders of people with that entry and their summed price. A paid order
-- counts once in every distinct entry of its person's history; orders of people without
-- history are not attributed. Money is never summed across currencies.
-- Per entry: an order counts in every source its buyer came through; do not sum the rows
-- (revenue_first_touch / revenue_last_touch count each paid order once; revenue_summary is the total).
-- materialized: table — an aggregate over the largest tables, rebuilt after every load;
-- as a view every dashboard query and data test would recompute it.
-- tests: unique(tunnel_id, leadgentool_id, traffic_source_id, currency); not_null(paid_orders)
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
