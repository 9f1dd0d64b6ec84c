with versions as (
    select
        cast(t.id as text) as tag_id,
        cast(t.name as text) as tag_name
    from raw.tags t
    where t.deleted_at is null and newest_version(t.id)
)

select tag_id, tag_name
from versions
