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
    where m.deleted_at is null and newest_version(m.id)
    -- nor its client (the deletion cascade marks this row too; this holds before it runs)
    and not exists (
        select 1 from raw.clients gone
        where
            cast(gone.id as text) = cast(m.client_id as text)
            and gone.deleted_at is not null
            and newest_version(gone.id)
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
