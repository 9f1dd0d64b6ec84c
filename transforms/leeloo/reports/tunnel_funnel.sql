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
