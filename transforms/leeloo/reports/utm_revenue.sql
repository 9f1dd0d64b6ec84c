-- One row per UTM combination (utm_source, utm_medium, utm_campaign) and currency: paid
-- orders of the people owning channels with that combination, and their summed price.
-- A paid order counts once in every distinct UTM combination of its person's channels.
-- Money is never summed across currencies.
-- Per entry: an order counts in every UTM combination its buyer came through; do not sum the rows
-- (revenue_first_touch / revenue_last_touch count each paid order once; revenue_summary is the total).
-- materialized: table — an aggregate over the largest tables, rebuilt after every load;
-- as a view every dashboard query and data test would recompute it.
-- tests: unique(utm_source, utm_medium, utm_campaign, currency); not_null(paid_orders)
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
