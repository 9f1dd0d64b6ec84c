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
    where m.deleted_at is null and newest_version(m.id)
),

-- channels that are gone, or whose person is: their messages went with them (the deletion
-- cascade marks the messages too; this holds before it runs)
gone_channels as (
    select cast(c.id as text) as channel_id
    from raw.communication_channels c
    where
        newest_version(c.id)
        and (
            c.deleted_at is not null
            or exists (
                select 1 from raw.people p
                where
                    cast(p.id as text) = cast(c.person_id as text)
                    and p.deleted_at is not null
                    and newest_version(p.id)
            )
        )
),

gone_users as (
    select cast(u.id as text) as user_id
    from raw.users u
    where u.deleted_at is not null and newest_version(u.id)
)

select
    v.message_id,
    v.channel_id,
    v.text,
    v.message_type,
    case
        when v.message_type = 'FRIEND_MESSAGE' then 'inbound'
        when v.message_type in ('BOT_MESSAGE', 'YOUR_MESSAGE') then 'outbound'
        else 'system'
    end as direction,
    v.is_read,
    v.created_at,
    v.updated_at,
    v.created_by_type,
    v.created_by_id,
    case when v.message_type = 'YOUR_MESSAGE' then v.created_by_id end as manager_id,
    coalesce(
        v.message_type = 'YOUR_MESSAGE'
        and exists (
            select 1 from gone_users g
            where g.user_id = v.created_by_id
        ),
        false
    ) as manager_deleted
from versions v
where not exists (
    select 1 from gone_channels g
    where g.channel_id = v.channel_id
)
