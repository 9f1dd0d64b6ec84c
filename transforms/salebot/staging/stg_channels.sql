-- One row per connected messenger bot (connected_channels; latest version): the messenger,
-- its name and the group_id that clients' "group" refers to.
-- tests: unique(channel_key); not_null(channel_key, messenger)
with versions as (
    select
        cast(c.messenger as text) as messenger,
        cast(c.id as text) as channel_id,
        cast(c.group_id as text) as channel_group_id,
        coalesce(cast(c.name as text), cast(c.short_name as text), cast(c."group" as text)) as channel_name,
        cast(c.enabled as boolean) as enabled
    from raw.channels c
    -- the latest load of each key; two rows of one key in the SAME load are kept, so
    -- that the unique() test reports them instead of one being picked at random
    where not exists (
        select 1 from raw.channels newer
        where newer.messenger = c.messenger and newer.id = c.id and newer._dlt_load_id > c._dlt_load_id
    )
)

select
    messenger || ':' || channel_id as channel_key,
    messenger,
    channel_id,
    channel_group_id,
    channel_name,
    enabled
from versions
