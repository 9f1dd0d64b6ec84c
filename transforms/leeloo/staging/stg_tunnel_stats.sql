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
        cast(s.total_sale as numeric(38, 9)) as total_sale,
        cast(s.total_expenses as numeric(38, 9)) as total_expenses
    from raw.tunnel_stats s
    where
        newest_version(s.tunnel_id, s.snapshot_date)
        and not exists (
            select 1 from raw.tunnels t
            where
                cast(t.id as text) = cast(s.tunnel_id as text)
                and t.deleted_at is not null
                and newest_version(t.id)
        )
)

select
    tunnel_id, snapshot_date, snapshot_at,
    visits, uniq_visits, shows, uniq_shows, subscribers, uniq_subscribers,
    orders, sales, uniq_sales, total_sale, total_expenses
from versions
