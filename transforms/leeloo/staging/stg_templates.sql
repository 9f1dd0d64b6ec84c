-- One row per message template (latest version) with its category.
-- tests: unique(template_id); not_null(template_id)
-- tests: orphans(category_id -> stg_template_categories.category_id)
with versions as (
    select
        cast(t.id as text) as template_id,
        cast(t.category_id as text) as category_id,
        cast(t.message_name as text) as message_name
    from raw.templates t
    -- the latest load of each key; two rows of one key in the SAME load are kept, so
    -- that the unique() test reports them instead of one being picked at random
    where not exists (
        select 1 from raw.templates newer
        where newer.id = t.id and newer._dlt_load_id > t._dlt_load_id
    )
)

select template_id, category_id, message_name
from versions
