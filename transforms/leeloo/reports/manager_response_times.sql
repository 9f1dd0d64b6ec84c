with sequenced as (
    select
        m.message_id,
        m.channel_id,
        m.message_type,
        m.manager_id,
        m.manager_deleted,
        m.created_at,
        row_number() over (partition by m.channel_id order by m.created_at, m.message_id) as seq
    from stg_chat_messages m
    where m.created_at is not null and m.channel_id is not null
),

with_reply as (
    select
        s.*,
        min(case when s.message_type = 'YOUR_MESSAGE' then s.seq end) over (
            partition by s.channel_id order by s.seq
            rows between 1 following and unbounded following
        ) as reply_seq
    from sequenced s
),

answered as (
    select
        q.created_at as asked_at,
        r.manager_id,
        cast(
            (extract(epoch from r.created_at) - extract(epoch from q.created_at)) / 60.0 as double precision
        ) as response_minutes
    from with_reply q
    join sequenced r on r.channel_id = q.channel_id and r.seq = q.reply_seq
    where q.message_type = 'FRIEND_MESSAGE' and not r.manager_deleted
)

select
    a.manager_id,
    max(u.user_name) as manager_name,
    cast(date_trunc('week', a.asked_at at time zone reports_timezone()) as date) as week_start,
    count(*) as answered_messages,
    percentiles(a.response_minutes, 0.5, 0.9),  -- noqa: AL03
    avg(a.response_minutes) as avg_response_minutes,
    max(a.response_minutes) as max_response_minutes
from answered a
left join stg_users u on u.user_id = a.manager_id
group by a.manager_id, cast(date_trunc('week', a.asked_at at time zone reports_timezone()) as date)
