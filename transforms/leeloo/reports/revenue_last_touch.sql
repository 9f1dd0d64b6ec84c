select
    r.attributed,
    r.tunnel_id,
    r.leadgentool_id,
    r.traffic_source_id,
    r.currency,
    r.paid_orders,
    r.revenue
from revenue_by_touch r
where r.touch = 'last'
