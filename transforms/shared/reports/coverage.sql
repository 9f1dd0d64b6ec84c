select
    c.resource,
    c.complete_since,
    c.complete_until,
    c.as_of,
    c.history_since,
    c.estimated_complete_at,
    c.history_entities,
    c.loaded_entities
from stg_coverage c
