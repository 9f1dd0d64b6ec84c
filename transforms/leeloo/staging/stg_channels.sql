-- One row per communication channel (a person's conversation in one messenger; latest
-- version; none for a channel the API no longer has, or whose person it no longer has),
-- with the messenger ("from") and the UTM marks it arrived with (NULL if none).
-- tests: unique(channel_id); not_null(channel_id); no_future(created_at, last_message_time)
-- tests: orphans(person_id -> stg_people.person_id)
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
    -- the latest load of each key, unless the API no longer has it (deleted_at set; the raw
    -- row stays for audit); two rows of one key in the SAME load are kept, so that the
    -- unique() test reports them instead of one being picked at random
    where c.deleted_at is null and not exists (
        select 1 from raw.communication_channels newer
        where newer.id = c.id and newer._dlt_load_id > c._dlt_load_id
    )
    -- nor is its person (the deletion cascade marks this row too; this holds before it runs)
    and not exists (
        select 1 from raw.people gone_person
        where
            cast(gone_person.id as text) = cast(c.person_id as text)
            and gone_person.deleted_at is not null
            and not exists (
                select 1 from raw.people gone_person_newer
                where
                    gone_person_newer.id = gone_person.id
                    and gone_person_newer._dlt_load_id > gone_person._dlt_load_id
            )
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
