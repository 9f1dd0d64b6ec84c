-- One row per lead-generation tool (a landing page, widget, link... of a tunnel; latest version).
-- tests: unique(leadgentool_id); not_null(leadgentool_id)
-- tests: orphans(tunnel_id -> stg_tunnels.tunnel_id)
with versions as (
    select
        cast(l.id as text) as leadgentool_id,
        cast(l.tunnel_id as text) as tunnel_id,
        cast(l.name as text) as leadgentool_name,
        cast(l.type as text) as leadgentool_type
    from raw.leadgentools l
    -- the latest load of each key; two rows of one key in the SAME load are kept, so
    -- that the unique() test reports them instead of one being picked at random
    where not exists (
        select 1 from raw.leadgentools newer
        where newer.id = l.id and newer._dlt_load_id > l._dlt_load_id
    )
)

select leadgentool_id, tunnel_id, leadgentool_name, leadgentool_type
from versions
