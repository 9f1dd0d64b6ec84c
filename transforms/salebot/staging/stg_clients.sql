-- One row per Salebot client the API still has (latest version): the messenger it came
-- from (decoded from client_type), the bot/channel group it is attached to, and when it
-- was created and last active.
-- tests: unique(client_id); not_null(client_id, created_at); no_future(created_at, updated_at)
with versions as (
    select
        cast(c.id as text) as client_id,
        cast(c.platform_id as text) as platform_id,
        cast(c.client_type as integer) as client_type,
        cast(c."group" as text) as channel_group_id,
        cast(c.name as text) as name,
        cast(c.tag as text) as tag,
        cast(c.created_at as timestamptz) as created_at,
        cast(c.updated_at as timestamptz) as updated_at
    from raw.clients c
    -- the latest load of each key, unless the API no longer has it (deleted_at set; the raw
    -- row stays for audit); two rows of one key in the SAME load are kept, so that the
    -- unique() test reports them instead of one being picked at random
    where c.deleted_at is null and not exists (
        select 1 from raw.clients newer
        where newer.id = c.id and newer._dlt_load_id > c._dlt_load_id
    )
)

select
    client_id,
    platform_id,
    client_type,
    case client_type
        when 0 then 'vkontakte'
        when 1 then 'telegram'
        when 2 then 'viber'
        when 3 then 'facebook'
        when 4 then 'online_chat'
        when 6 then 'whatsapp'
        when 7 then 'avito'
        when 8 then 'ok'
        when 9 then 'instagram'
        when 13 then 'telephony'
        else 'other'
    end as messenger,
    channel_group_id,
    name,
    tag,
    created_at,
    updated_at
from versions
