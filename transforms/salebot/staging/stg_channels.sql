-- One row per connected messenger bot (connected_channels): the messenger, its name and
-- the group_id that clients' "group" refers to.
-- tests: unique(channel_key); not_null(channel_key, messenger)
with versions as (
    select
        cast(c.messenger as text) as messenger,
        cast(c.id as text) as channel_id,
        cast(c.group_id as text) as channel_group_id,
        coalesce(cast(c.name as text), cast(c.short_name as text), cast(c."group" as text)) as channel_name,
        cast(c.enabled as boolean) as enabled,
        rank() over (partition by c.messenger, c.id order by c._dlt_load_id desc) as version_rank
    from raw.channels c
)

select
    messenger || ':' || channel_id as channel_key,
    messenger,
    channel_id,
    channel_group_id,
    channel_name,
    enabled
from versions
where version_rank = 1
