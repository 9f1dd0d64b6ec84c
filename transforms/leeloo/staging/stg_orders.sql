with versions as (
    select
        cast(o.id as text) as order_id,
        cast(o.person_id as text) as person_id,
        cast(o.title as text) as title,
        cast(o.description as text) as description,
        cast(o.price as numeric(38, 9)) as price,
        nullif(upper(trim(cast(o.currency as text))), '') as currency,
        upper(trim(cast(o.status as text))) as status,
        cast(o.payment_method as text) as payment_method,
        cast(o.created_at as timestamptz) as created_at,
        cast(o.updated_at as timestamptz) as updated_at
    from raw.orders o
    where o.deleted_at is null and newest_version(o.id)
)

select
    order_id,
    person_id,
    title,
    description,
    price,
    currency,
    status,
    case
        when status in ('RESOLVED', 'SUCCESS') then 'paid'
        when status in ('REJECTED', 'FAILED') then 'failed'
        when status = 'REFUNDED' then 'refunded'
        else 'open'
    end as status_group,
    coalesce(status in ('RESOLVED', 'SUCCESS'), false) as is_paid,
    payment_method,
    created_at,
    updated_at
from versions
