-- One row per tunnel per snapshot date (UTC day): Leeloo's cumulative counters for the
-- tunnel as read that day (latest version of the snapshot).
-- tests: unique(tunnel_id, snapshot_date); not_null(tunnel_id, snapshot_date); no_future(snapshot_date, snapshot_at)
with versions as (
    select
        cast(s.tunnel_id as text) as tunnel_id,
        cast(s.snapshot_date as date) as snapshot_date,
        cast(s.snapshot_at as timestamptz) as snapshot_at,
        cast(s.visits as bigint) as visits,
        cast(s.uniq_visits as bigint) as uniq_visits,
        cast(s.shows as bigint) as shows,
        cast(s.uniq_shows as bigint) as uniq_shows,
        cast(s.subscribers as bigint) as subscribers,
        cast(s.uniq_subscribers as bigint) as uniq_subscribers,
        cast(s.orders as bigint) as orders,
        cast(s.sales as bigint) as sales,
        cast(s.uniq_sales as bigint) as uniq_sales,
        cast(s.total_sale as double precision) as total_sale,
        cast(s.total_expenses as double precision) as total_expenses,
        rank() over (partition by s.tunnel_id, s.snapshot_date order by s._dlt_load_id desc) as version_rank
    from raw.tunnel_stats s
)

select
    tunnel_id, snapshot_date, snapshot_at,
    visits, uniq_visits, shows, uniq_shows, subscribers, uniq_subscribers,
    orders, sales, uniq_sales, total_sale, total_expenses
from versions
where version_rank = 1
