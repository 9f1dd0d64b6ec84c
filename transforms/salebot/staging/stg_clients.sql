-- One row per Salebot client (latest version): the messenger it came from (decoded from
-- client_type), the bot/channel group it is attached to, and when it was created and last active.
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
        cast(c.updated_at as timestamptz) as updated_at,
        rank() over (partition by c.id order by c._dlt_load_id desc) as version_rank
    from raw.clients c
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
where version_rank = 1
