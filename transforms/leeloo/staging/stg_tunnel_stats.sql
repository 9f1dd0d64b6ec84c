-- One row per tunnel per snapshot date (UTC day): Leeloo's cumulative counters for the
-- tunnel as read that day (latest version of the snapshot); none for a tunnel the API no
-- longer has.
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
        cast(s.total_sale as numeric(38, 9)) as total_sale,
        cast(s.total_expenses as numeric(38, 9)) as total_expenses
    from raw.tunnel_stats s
    -- the latest load of each key; two rows of one key in the SAME load are kept, so
    -- that the unique() test reports them instead of one being picked at random
    where not exists (
        select 1 from raw.tunnel_stats newer
        where
            newer.tunnel_id = s.tunnel_id
            and newer.snapshot_date = s.snapshot_date
            and newer._dlt_load_id > s._dlt_load_id
    )
    and not exists (
        select 1 from raw.tunnels t
        where
            cast(t.id as text) = cast(s.tunnel_id as text)
            and t.deleted_at is not null
            and not exists (
                select 1 from raw.tunnels t_newer
                where t_newer.id = t.id and t_newer._dlt_load_id > t._dlt_load_id
            )
    )
)

select
    tunnel_id, snapshot_date, snapshot_at,
    visits, uniq_visits, shows, uniq_shows, subscribers, uniq_subscribers,
    orders, sales, uniq_sales, total_sale, total_expenses
from versions
