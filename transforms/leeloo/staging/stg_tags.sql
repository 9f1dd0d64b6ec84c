-- One row per tag defined in the account (latest version) the API still has.
-- tests: unique(tag_id); not_null(tag_id)
with versions as (
    select
        cast(t.id as text) as tag_id,
        cast(t.name as text) as tag_name
    from raw.tags t
    -- the latest load of each key, unless the API no longer has it (deleted_at set; the raw
    -- row stays for audit); two rows of one key in the SAME load are kept, so that the
    -- unique() test reports them instead of one being picked at random
    where t.deleted_at is null and not exists (
        select 1 from raw.tags newer
        where newer.id = t.id and newer._dlt_load_id > t._dlt_load_id
    )
)

select tag_id, tag_name
from versions
