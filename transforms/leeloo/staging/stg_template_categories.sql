-- One row per message-template category (latest version) the API still has.
-- tests: unique(category_id); not_null(category_id)
with versions as (
    select
        cast(c.id as text) as category_id,
        cast(c.name as text) as category_name
    from raw.template_categories c
    -- the latest load of each key, unless the API no longer has it (deleted_at set; the raw
    -- row stays for audit); two rows of one key in the SAME load are kept, so that the
    -- unique() test reports them instead of one being picked at random
    where c.deleted_at is null and not exists (
        select 1 from raw.template_categories newer
        where newer.id = c.id and newer._dlt_load_id > c._dlt_load_id
    )
)

select category_id, category_name
from versions
