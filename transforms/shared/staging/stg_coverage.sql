select
    cast(c.resource as text) as resource,
    c.complete_since,
    c.complete_until,
    c.history_since,
    c.estimated_complete_at,
    c.as_of,
    cast(c.history_entities as bigint) as history_entities,
    cast(c.loaded_entities as bigint) as loaded_entities
from raw._chatfunnel_coverage c
where newest_version(c.resource)
