with versions as (
    select
        cast(c.id as text) as category_id,
        cast(c.name as text) as category_name
    from raw.template_categories c
    where c.deleted_at is null and newest_version(c.id)
)

select category_id, category_name
from versions
