-- One row per chat message (latest version) on a channel: its type, direction
-- (inbound = FRIEND_MESSAGE from the client; outbound = BOT_MESSAGE or YOUR_MESSAGE;
-- system) and, for YOUR_MESSAGE, the manager (user) who wrote it.
-- materialized: table — the largest table, read by four reports and its tests; built
-- once per load instead of once per reader.
-- tests: unique(message_id); not_null(message_id, channel_id); no_future(created_at)
-- tests: orphans(channel_id -> stg_channels.channel_id)
with versions as (
    select
        cast(m.id as text) as message_id,
        cast(m.account_id as text) as channel_id,
        cast(m.text as text) as text,
        upper(trim(cast(m.type as text))) as message_type,
        cast(m.read as boolean) as is_read,
        cast(m.created_at as timestamptz) as created_at,
        cast(m.updated_at as timestamptz) as updated_at,
        cast(m.links__created_by__type as text) as created_by_type,
        cast(m.links__created_by__id as text) as created_by_id
    from raw.chat_messages m
    -- the latest load of each key; two rows of one key in the SAME load are kept, so
    -- that the unique() test reports them instead of one being picked at random
    where not exists (
        select 1 from raw.chat_messages newer
        where newer.id = m.id and newer._dlt_load_id > m._dlt_load_id
    )
)

select
    message_id,
    channel_id,
    text,
    message_type,
    case
        when message_type = 'FRIEND_MESSAGE' then 'inbound'
        when message_type in ('BOT_MESSAGE', 'YOUR_MESSAGE') then 'outbound'
        else 'system'
    end as direction,
    is_read,
    created_at,
    updated_at,
    created_by_type,
    created_by_id,
    case when message_type = 'YOUR_MESSAGE' then created_by_id end as manager_id
from versions
