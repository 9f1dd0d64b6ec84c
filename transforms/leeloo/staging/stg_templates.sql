with versions as (
    select
        cast(t.id as text) as template_id,
        cast(t.category_id as text) as category_id,
        cast(t.message_name as text) as message_name
    from raw.templates t
    where t.deleted_at is null and newest_version(t.id)
    -- nor is its category (the deletion cascade marks this row too; this holds before it runs)
    and not exists (
        select 1 from raw.template_categories gone_category
        where
            cast(gone_category.id as text) = cast(t.category_id as text)
            and gone_category.deleted_at is not null
            and newest_version(gone_category.id)
    )
)

select template_id, category_id, message_name
from versions
