-- One row per message the API still has, of a client it still has (latest version):
-- inbound (written by the client) or outbound (sent by the bot or by a manager), the bot
-- block it came from, and whether it was polled from get_history or is still only known
-- from a webhook push (created_at = time received).
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
        cast(m.origin as text) as origin
    from raw.messages m
    -- the latest load of each key, unless the API no longer has it (deleted_at set; the raw
    -- row stays for audit); two rows of one key in the SAME load are kept, so that the
    -- unique() test reports them instead of one being picked at random
    where m.deleted_at is null and not exists (
        select 1 from raw.messages newer
        where newer.id = m.id and newer._dlt_load_id > m._dlt_load_id
    )
    -- nor its client (the deletion cascade marks this row too; this holds before it runs)
    and not exists (
        select 1 from raw.clients gone
        where
            cast(gone.id as text) = cast(m.client_id as text)
            and gone.deleted_at is not null
            and not exists (
                select 1 from raw.clients gone_newer
                where gone_newer.id = gone.id and gone_newer._dlt_load_id > gone._dlt_load_id
            )
    )
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
