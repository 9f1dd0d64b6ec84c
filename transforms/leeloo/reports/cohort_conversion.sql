with seen_events as (
    select p.person_id, p.created_at as seen_at from stg_people p
    union all
    select c.person_id, c.created_at
    from stg_channels c
    join stg_people p on p.person_id = c.person_id
),

first_seen as (
    select person_id, min(seen_at) as first_seen_at
    from seen_events
    where seen_at is not null
    group by person_id
),

first_paid as (
    select person_id, min(created_at) as first_paid_at
    from stg_orders
    where is_paid and created_at is not null
    group by person_id
),

people as (
    select
        s.person_id,
        cast(date_trunc('week', s.first_seen_at at time zone reports_timezone()) as date) as cohort_week,
        case
            when f.first_paid_at is not null then greatest(
                0,
                cast(floor(
                    (extract(epoch from f.first_paid_at) - extract(epoch from s.first_seen_at)) / 604800.0
                ) as bigint)
            )
        end as weeks_to_first_paid
    from first_seen s
    left join first_paid f on f.person_id = s.person_id
),

cells as (
    select cohort_week, weeks_to_first_paid, count(*) as people
    from people
    group by cohort_week, weeks_to_first_paid
),

sizes as (
    select cohort_week, count(*) as cohort_size
    from people
    group by cohort_week
)

select
    c.cohort_week,
    c.weeks_to_first_paid,
    c.people,
    z.cohort_size,
    cast(c.people as double precision) / z.cohort_size as share_of_cohort,
    case
        when c.weeks_to_first_paid is not null then cast(
            sum(case when c.weeks_to_first_paid is not null then c.people else 0 end) over (
                partition by c.cohort_week order by c.weeks_to_first_paid nulls last
                rows between unbounded preceding and current row
            ) as double precision
        ) / z.cohort_size
    end as cumulative_paying_share
from cells c
join sizes z on z.cohort_week = c.cohort_week
