with versions as (
    select
        cast(c.messenger as text) as messenger,
        cast(c.id as text) as channel_id,
        cast(c.group_id as text) as channel_group_id,
        coalesce(cast(c.name as text), cast(c.short_name as text), cast(c."group" as text)) as channel_name,
        cast(c.enabled as boolean) as enabled
    from raw.channels c
    where newest_version(c.messenger, c.id)
)

select
    messenger || ':' || channel_id as channel_key,
    messenger,
    channel_id,
    channel_group_id,
    channel_name,
    enabled
from versions
