-- One row per manager and ISO week (Monday, reports_timezone) of the client's message: inbound
-- FRIEND_MESSAGEs whose next manager message (YOUR_MESSAGE) on the same channel came from
-- this manager, with the median, 90th percentile (interpolated), mean and max minutes from
-- the client's message to that reply. Each client message counts (three messages before
-- one reply are three answered messages); messages never answered by a manager are left
-- out, and so are those answered by a manager since deleted from the account; manager_id
-- is NULL for manager messages that carry no author.
-- materialized: table — it windows over every chat message (the largest table); as a view
-- dashboards would redo that on every query.
-- tests: unique(manager_id, week_start); not_null(week_start, answered_messages)
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
        ) as minutes
    from with_reply q
    join sequenced r on r.channel_id = q.channel_id and r.seq = q.reply_seq
    where q.message_type = 'FRIEND_MESSAGE' and not r.manager_deleted
)

select
    a.manager_id,
    max(u.user_name) as manager_name,
    cast(date_trunc('week', a.asked_at at time zone reports_timezone()) as date) as week_start,
    count(*) as answered_messages,
    percentile_cont(0.5) within group (order by a.minutes) as median_response_minutes,
    percentile_cont(0.9) within group (order by a.minutes) as p90_response_minutes,
    avg(a.minutes) as avg_response_minutes,
    max(a.minutes) as max_response_minutes
from answered a
left join stg_users u on u.user_id = a.manager_id
group by a.manager_id, cast(date_trunc('week', a.asked_at at time zone reports_timezone()) as date)
