-- One row per first touch and currency: every paid order counted exactly once, under the
-- first entry of its buyer's subscribe history as Leeloo lists it (tunnel, lead-generation
-- tool, traffic source). The paid orders of a buyer without history (or no longer in the
-- API) are the row with attributed = false ("unattributed", NULL source columns). The rows
-- of a currency add up to revenue_summary's paid orders and revenue (revenue_reconciliation).
-- tests: unique(attributed, tunnel_id, leadgentool_id, traffic_source_id, currency)
-- tests: not_null(attributed, paid_orders, revenue)
with touch as (
    select h.person_id, h.tunnel_id, h.leadgentool_id, h.traffic_source_id
    from stg_subscribe_history h
    where not exists (
        select 1 from stg_subscribe_history earlier
        where earlier.person_id = h.person_id and earlier.position < h.position
    )
)

select
    t.person_id is not null as attributed,
    t.tunnel_id,
    t.leadgentool_id,
    t.traffic_source_id,
    o.currency,
    count(*) as paid_orders,
    coalesce(sum(o.price), 0) as revenue
from stg_orders o
left join touch t on o.person_id = t.person_id
where o.is_paid
group by t.person_id is not null, t.tunnel_id, t.leadgentool_id, t.traffic_source_id, o.currency
