-- One row per tunnel per stats snapshot date: Leeloo's cumulative counters for the tunnel
-- on that day and the step rates between them; a rate is NULL where its divisor is 0.
-- The rates are ratios of independent counters, not shares of a subset (a subscriber can
-- order twice), so they are not tested to lie within [0, 1]; romi may be negative.
-- materialized: table — an aggregate over the largest tables, rebuilt after every load;
-- as a view every dashboard query and data test would recompute it.
-- tests: unique(tunnel_id, snapshot_date); not_null(tunnel_id, snapshot_date); no_future(snapshot_date)
select
    s.tunnel_id,
    t.tunnel_name,
    s.snapshot_date,
    s.visits,
    s.uniq_visits,
    s.shows,
    s.uniq_shows,
    s.subscribers,
    s.uniq_subscribers,
    s.orders,
    s.sales,
    s.uniq_sales,
    s.total_sale,
    s.total_expenses,
    cast(s.shows as double precision) / nullif(s.visits, 0) as show_rate,
    cast(s.subscribers as double precision) / nullif(s.shows, 0) as subscribe_rate,
    cast(s.orders as double precision) / nullif(s.subscribers, 0) as order_rate,
    cast(s.sales as double precision) / nullif(s.orders, 0) as sale_rate,
    (s.total_sale - s.total_expenses) / nullif(s.total_expenses, 0) as romi
from stg_tunnel_stats s
left join stg_tunnels t on t.tunnel_id = s.tunnel_id
