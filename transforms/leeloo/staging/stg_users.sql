with versions as (
    select
        cast(u.id as text) as user_id,
        cast(u.name as text) as user_name,
        cast(u.created_at as timestamptz) as created_at,
        cast(u.updated_at as timestamptz) as updated_at
    from raw.users u
    where u.deleted_at is null and newest_version(u.id)
)

select user_id, user_name, created_at, updated_at
from versions
