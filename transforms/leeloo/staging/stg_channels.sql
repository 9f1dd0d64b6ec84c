with versions as (
    select
        cast(c.id as text) as channel_id,
        cast(c.person_id as text) as person_id,
        cast(c.name as text) as channel_name,
        upper(trim(cast(c."from" as text))) as messenger,
        cast(c.bot_status as text) as bot_status,
        cast(c.last_message_time as timestamptz) as last_message_time,
        cast(c.created_at as timestamptz) as created_at,
        nullif(trim(cast(c.utm_marks__utm_source as text)), '') as utm_source,
        nullif(trim(cast(c.utm_marks__utm_medium as text)), '') as utm_medium,
        nullif(trim(cast(c.utm_marks__utm_campaign as text)), '') as utm_campaign,
        nullif(trim(cast(c.utm_marks__utm_content as text)), '') as utm_content,
        nullif(trim(cast(c.utm_marks__utm_term as text)), '') as utm_term
    from raw.communication_channels c
    where c.deleted_at is null and newest_version(c.id)
    -- nor is its person (the deletion cascade marks this row too; this holds before it runs)
    and not exists (
        select 1 from raw.people gone_person
        where
            cast(gone_person.id as text) = cast(c.person_id as text)
            and gone_person.deleted_at is not null
            and newest_version(gone_person.id)
    )
)

select
    channel_id,
    person_id,
    channel_name,
    messenger,
    bot_status,
    last_message_time,
    created_at,
    case when upper(utm_source) in ('NOT_DEFINED', 'NO_DATA') then null else utm_source end as utm_source,
    case when upper(utm_medium) in ('NOT_DEFINED', 'NO_DATA') then null else utm_medium end as utm_medium,
    case when upper(utm_campaign) in ('NOT_DEFINED', 'NO_DATA') then null else utm_campaign end as utm_campaign,
    case when upper(utm_content) in ('NOT_DEFINED', 'NO_DATA') then null else utm_content end as utm_content,
    case when upper(utm_term) in ('NOT_DEFINED', 'NO_DATA') then null else utm_term end as utm_term
from versions
