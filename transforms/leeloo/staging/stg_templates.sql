-- One row per message template (latest version) with its category, both still in the API.
-- tests: unique(template_id); not_null(template_id)
-- tests: orphans(category_id -> stg_template_categories.category_id)
with versions as (
    select
        cast(t.id as text) as template_id,
        cast(t.category_id as text) as category_id,
        cast(t.message_name as text) as message_name
    from raw.templates t
    -- the latest load of each key, unless the API no longer has it (deleted_at set; the raw
    -- row stays for audit); two rows of one key in the SAME load are kept, so that the
    -- unique() test reports them instead of one being picked at random
    where t.deleted_at is null and not exists (
        select 1 from raw.templates newer
        where newer.id = t.id and newer._dlt_load_id > t._dlt_load_id
    )
    -- nor is its category (the deletion cascade marks this row too; this holds before it runs)
    and not exists (
        select 1 from raw.template_categories gone_category
        where
            cast(gone_category.id as text) = cast(t.category_id as text)
            and gone_category.deleted_at is not null
            and not exists (
                select 1 from raw.template_categories gone_category_newer
                where
                    gone_category_newer.id = gone_category.id
                    and gone_category_newer._dlt_load_id > gone_category._dlt_load_id
            )
    )
)

select template_id, category_id, message_name
from versions
