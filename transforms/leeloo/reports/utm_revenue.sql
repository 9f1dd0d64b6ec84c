with person_utms as (
    select distinct c.person_id, c.utm_source, c.utm_medium, c.utm_campaign
    from stg_channels c
    where c.person_id is not null
)

select
    u.utm_source,
    u.utm_medium,
    u.utm_campaign,
    o.currency,
    count(*) as paid_orders,
    sum(o.price) as revenue
from person_utms u
join stg_orders o on o.person_id = u.person_id
where o.is_paid
group by u.utm_source, u.utm_medium, u.utm_campaign, o.currency
