-- One row per lead-generation tool (a landing page, widget, link... of a tunnel; latest version).
-- tests: unique(leadgentool_id); not_null(leadgentool_id)
-- tests: orphans(tunnel_id -> stg_tunnels.tunnel_id)
with versions as (
    select
        cast(l.id as text) as leadgentool_id,
        cast(l.tunnel_id as text) as tunnel_id,
        cast(l.name as text) as leadgentool_name,
        cast(l.type as text) as leadgentool_type,
        rank() over (partition by l.id order by l._dlt_load_id desc) as version_rank
    from raw.leadgentools l
)

select leadgentool_id, tunnel_id, leadgentool_name, leadgentool_type
from versions
where version_rank = 1
