-- One row per tag defined in the account (latest version).
-- tests: unique(tag_id); not_null(tag_id)
with versions as (
    select
        cast(t.id as text) as tag_id,
        cast(t.name as text) as tag_name,
        rank() over (partition by t.id order by t._dlt_load_id desc) as version_rank
    from raw.tags t
)

select tag_id, tag_name
from versions
where version_rank = 1
