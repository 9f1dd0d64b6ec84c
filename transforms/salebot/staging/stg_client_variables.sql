-- One row per variable of a client (get_variables; latest version) that the API still has,
-- of a client it still has: the variable's name as Salebot spells it and its value as text.
-- tests: unique(client_id, name); not_null(client_id, name)
-- tests: orphans(client_id -> stg_clients.client_id)
select
    cast(v.client_id as text) as client_id,
    cast(v.name as text) as name,
    cast(v.value as text) as value
from raw.client_variables v
-- the latest load of each key, unless the API no longer has it (deleted_at set; the raw
-- row stays for audit); two rows of one key in the SAME load are kept, so that the
-- unique() test reports them instead of one being picked at random
where v.deleted_at is null and not exists (
    select 1 from raw.client_variables newer
    where newer.client_id = v.client_id and newer.name = v.name and newer._dlt_load_id > v._dlt_load_id
)
-- nor its client (the deletion cascade marks this row too; this holds before it runs)
and not exists (
    select 1 from raw.clients gone
    where
        cast(gone.id as text) = cast(v.client_id as text)
        and gone.deleted_at is not null
        and not exists (
            select 1 from raw.clients gone_newer
            where gone_newer.id = gone.id and gone_newer._dlt_load_id > gone._dlt_load_id
        )
)
