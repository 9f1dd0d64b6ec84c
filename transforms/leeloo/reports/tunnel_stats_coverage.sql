with snapshots as (
    select s.snapshot_date, count(distinct s.tunnel_id) as tunnels_snapshotted
    from stg_tunnel_stats s
    group by s.snapshot_date
),

bounds as (
    select
        min(s.snapshot_date) as first_day,
        cast(current_timestamp at time zone 'UTC' as date) as today
    from snapshots s
),

days as (
    select cast(g.day as date) as day, b.today
    from bounds b
    cross join lateral generate_series(b.first_day, b.today, interval '1 day') g (day)
    where b.first_day is not null
),

missing as (
    select d.day, count(*) as tunnels_missing
    from days d
    join stg_tunnels t
        on t.created_at is null or cast(t.created_at at time zone 'UTC' as date) <= d.day
    where
        not exists (
            select 1 from stg_tunnel_stats s
            where s.tunnel_id = t.tunnel_id and s.snapshot_date = d.day
        )
    group by d.day
)

select
    d.day as "date",
    coalesce(s.tunnels_snapshotted, 0) as tunnels_snapshotted,
    coalesce(m.tunnels_missing, 0) as tunnels_missing,
    (s.tunnels_snapshotted is null and d.day < d.today) as is_gap
from days d
left join snapshots s on s.snapshot_date = d.day
left join missing m on m.day = d.day
