-- One row per message-template category (latest version).
-- tests: unique(category_id); not_null(category_id)
with versions as (
    select
        cast(c.id as text) as category_id,
        cast(c.name as text) as category_name,
        rank() over (partition by c.id order by c._dlt_load_id desc) as version_rank
    from raw.template_categories c
)

select category_id, category_name
from versions
where version_rank = 1
