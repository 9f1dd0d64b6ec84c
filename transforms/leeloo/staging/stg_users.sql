-- One row per user of the Leeloo account (a manager who can answer chats; latest version)
-- the API still has.
-- tests: unique(user_id); not_null(user_id); no_future(created_at, updated_at)
with versions as (
    select
        cast(u.id as text) as user_id,
        cast(u.name as text) as user_name,
        cast(u.created_at as timestamptz) as created_at,
        cast(u.updated_at as timestamptz) as updated_at
    from raw.users u
    -- the latest load of each key, unless the API no longer has it (deleted_at set; the raw
    -- row stays for audit); two rows of one key in the SAME load are kept, so that the
    -- unique() test reports them instead of one being picked at random
    where u.deleted_at is null and not exists (
        select 1 from raw.users newer
        where newer.id = u.id and newer._dlt_load_id > u._dlt_load_id
    )
)

select user_id, user_name, created_at, updated_at
from versions
