-- One row per message (latest version): inbound (written by the client) or outbound (sent
-- by the bot or by a manager), the bot block it came from, and whether it was polled from
-- get_history or is still only known from a webhook push (created_at = time received).
-- tests: unique(message_id); not_null(message_id, client_id, created_at); no_future(created_at)
-- tests: orphans(client_id -> stg_clients.client_id)
with versions as (
    select
        cast(m.id as text) as message_id,
        cast(m.client_id as text) as client_id,
        cast(m.created_at as timestamptz) as created_at,
        cast(m.client_replica as boolean) as client_replica,
        cast(m.manager_id as text) as manager_id,
        cast(m.message_id as text) as block_id,
        cast(m.text as text) as text,
        cast(m.delivered as boolean) as delivered,
        cast(m.origin as text) as origin,
        rank() over (partition by m.id order by m._dlt_load_id desc) as version_rank
    from raw.messages m
)

select
    message_id,
    client_id,
    created_at,
    case when client_replica then 'inbound' else 'outbound' end as direction,
    case
        when client_replica then 'client'
        when manager_id is not null then 'manager'
        else 'bot'
    end as sender,
    manager_id,
    block_id,
    text,
    delivered,
    coalesce(origin, 'history') as origin
from versions
where version_rank = 1
