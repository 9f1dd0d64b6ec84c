-- One row per lead-generation tool (a landing page, widget, link... of a tunnel; latest
-- version) the API still has, of a tunnel it still has.
-- tests: unique(leadgentool_id); not_null(leadgentool_id)
-- tests: orphans(tunnel_id -> stg_tunnels.tunnel_id)
with versions as (
    select
        cast(l.id as text) as leadgentool_id,
        cast(l.tunnel_id as text) as tunnel_id,
        cast(l.name as text) as leadgentool_name,
        cast(l.type as text) as leadgentool_type
    from raw.leadgentools l
    -- the latest load of each key, unless the API no longer has it (deleted_at set; the raw
    -- row stays for audit); two rows of one key in the SAME load are kept, so that the
    -- unique() test reports them instead of one being picked at random
    where l.deleted_at is null and not exists (
        select 1 from raw.leadgentools newer
        where newer.id = l.id and newer._dlt_load_id > l._dlt_load_id
    )
    -- nor is its tunnel (the deletion cascade marks this row too; this holds before it runs)
    and not exists (
        select 1 from raw.tunnels gone_tunnel
        where
            cast(gone_tunnel.id as text) = cast(l.tunnel_id as text)
            and gone_tunnel.deleted_at is not null
            and not exists (
                select 1 from raw.tunnels gone_tunnel_newer
                where
                    gone_tunnel_newer.id = gone_tunnel.id
                    and gone_tunnel_newer._dlt_load_id > gone_tunnel._dlt_load_id
            )
    )
)

select leadgentool_id, tunnel_id, leadgentool_name, leadgentool_type
from versions
