-- One row per user of the Leeloo account (a manager who can answer chats; latest version).
-- tests: unique(user_id); not_null(user_id); no_future(created_at, updated_at)
with versions as (
    select
        cast(u.id as text) as user_id,
        cast(u.name as text) as user_name,
        cast(u.created_at as timestamptz) as created_at,
        cast(u.updated_at as timestamptz) as updated_at,
        rank() over (partition by u.id order by u._dlt_load_id desc) as version_rank
    from raw.users u
)

select user_id, user_name, created_at, updated_at
from versions
where version_rank = 1
