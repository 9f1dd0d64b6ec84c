with ordered as (
    select
        s.*,
        lag(s.snapshot_date) over (partition by s.tunnel_id order by s.snapshot_date) as previous_snapshot_date,
        lag(s.visits) over (partition by s.tunnel_id order by s.snapshot_date) as prev_visits,
        lag(s.uniq_visits) over (partition by s.tunnel_id order by s.snapshot_date) as prev_uniq_visits,
        lag(s.shows) over (partition by s.tunnel_id order by s.snapshot_date) as prev_shows,
        lag(s.uniq_shows) over (partition by s.tunnel_id order by s.snapshot_date) as prev_uniq_shows,
        lag(s.subscribers) over (partition by s.tunnel_id order by s.snapshot_date) as prev_subscribers,
        lag(s.uniq_subscribers) over (partition by s.tunnel_id order by s.snapshot_date) as prev_uniq_subscribers,
        lag(s.orders) over (partition by s.tunnel_id order by s.snapshot_date) as prev_orders,
        lag(s.sales) over (partition by s.tunnel_id order by s.snapshot_date) as prev_sales,
        lag(s.uniq_sales) over (partition by s.tunnel_id order by s.snapshot_date) as prev_uniq_sales,
        lag(s.total_sale) over (partition by s.tunnel_id order by s.snapshot_date) as prev_total_sale,
        lag(s.total_expenses) over (partition by s.tunnel_id order by s.snapshot_date) as prev_total_expenses
    from stg_tunnel_stats s
)

select
    o.tunnel_id,
    t.tunnel_name,
    o.snapshot_date,
    o.previous_snapshot_date,
    o.snapshot_date - o.previous_snapshot_date as days_between,
    o.visits - o.prev_visits as visits_change,
    o.uniq_visits - o.prev_uniq_visits as uniq_visits_change,
    o.shows - o.prev_shows as shows_change,
    o.uniq_shows - o.prev_uniq_shows as uniq_shows_change,
    o.subscribers - o.prev_subscribers as subscribers_change,
    o.uniq_subscribers - o.prev_uniq_subscribers as uniq_subscribers_change,
    o.orders - o.prev_orders as orders_change,
    o.sales - o.prev_sales as sales_change,
    o.uniq_sales - o.prev_uniq_sales as uniq_sales_change,
    o.total_sale - o.prev_total_sale as total_sale_change,
    o.total_expenses - o.prev_total_expenses as total_expenses_change
from ordered o
left join stg_tunnels t on t.tunnel_id = o.tunnel_id
where o.previous_snapshot_date is not null
