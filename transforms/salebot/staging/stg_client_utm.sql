with marks as (
    select
        v.client_id,
        lower(trim(v.name)) as mark,
        nullif(trim(v.value), '') as value
    from stg_client_variables v
    where lower(trim(v.name)) in ('utm_source', 'utm_medium', 'utm_campaign', 'utm_content', 'utm_term')
)

select
    m.client_id,
    max(case when m.mark = 'utm_source' then m.value end) as utm_source,
    max(case when m.mark = 'utm_medium' then m.value end) as utm_medium,
    max(case when m.mark = 'utm_campaign' then m.value end) as utm_campaign,
    max(case when m.mark = 'utm_content' then m.value end) as utm_content,
    max(case when m.mark = 'utm_term' then m.value end) as utm_term
from marks m
group by m.client_id
