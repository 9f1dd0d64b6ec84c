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
    where c.deleted_at is null and newest_version(c.id)
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
