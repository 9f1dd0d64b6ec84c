-- One row per message template (latest version) with its category.
-- tests: unique(template_id); not_null(template_id)
-- tests: orphans(category_id -> stg_template_categories.category_id)
with versions as (
    select
        cast(t.id as text) as template_id,
        cast(t.category_id as text) as category_id,
        cast(t.message_name as text) as message_name,
        rank() over (partition by t.id order by t._dlt_load_id desc) as version_rank
    from raw.templates t
)

select template_id, category_id, message_name
from versions
where version_rank = 1
