with versions as (
    select
        cast(p.id as text) as person_id,
        cast(p.name as text) as name,
        cast(p.email as text) as email,
        cast(p.phone as text) as phone,
        cast(p.profile_image as text) as profile_image,
        cast(p.gender as text) as gender,
        cast(p.locale as text) as locale,
        cast(p.last_message_time as timestamptz) as last_message_time,
        cast(p.created_at as timestamptz) as created_at,
        cast(p.updated_at as timestamptz) as updated_at,
        cast(p._dlt_id as text) as _dlt_id,
        cast(p._dlt_load_id as text) as _dlt_load_id
    from raw.people p
    where p.deleted_at is null and newest_version(p.id)
),

trimmed as (
    select
        person_id,
        case
            when upper(trim(name)) in ('', 'NOT_DEFINED', 'NO_DATA', 'NULL', 'NONE', 'UNDEFINED') then null
            else trim(name)
        end as name,
        case
            when upper(trim(email)) in ('', 'NOT_DEFINED', 'NO_DATA', 'NULL', 'NONE', 'UNDEFINED') then null
            else lower(trim(email))
        end as email,
        case
            when upper(trim(phone)) in ('', 'NOT_DEFINED', 'NO_DATA', 'NULL', 'NONE', 'UNDEFINED') then null
            else regexp_replace(phone, '[^0-9]', '', 'g')
        end as phone_digits,
        case
            when upper(trim(profile_image)) in ('', 'NOT_DEFINED', 'NO_DATA', 'NULL', 'NONE', 'UNDEFINED') then null
            else trim(profile_image)
        end as profile_image,
        case
            when upper(trim(gender)) in ('', 'NOT_DEFINED', 'NO_DATA', 'NULL', 'NONE', 'UNDEFINED') then null
            else lower(trim(gender))
        end as gender,
        case
            when upper(trim(locale)) in ('', 'NOT_DEFINED', 'NO_DATA', 'NULL', 'NONE', 'UNDEFINED') then null
            else trim(locale)
        end as locale,
        last_message_time,
        created_at,
        updated_at,
        _dlt_id,
        _dlt_load_id
    from versions
)

select
    person_id,
    name,
    case when email like '%_@_%' then email end as email,
    case when phone_digits <> '' then '+' || phone_digits end as phone,
    profile_image,
    gender,
    locale,
    last_message_time,
    created_at,
    updated_at,
    _dlt_id,
    _dlt_load_id
from trimmed
