-- A compact Salebot funnel per messenger for `make demo`: clients, engaged, ordering and
-- successful clients, and messages both ways.
select
    f.messenger,
    cast(sum(f.clients) as bigint) as clients,
    cast(sum(f.engaged_clients) as bigint) as engaged_clients,
    cast(sum(f.ordering_clients) as bigint) as ordering_clients,
    cast(sum(f.successful_clients) as bigint) as successful_clients,
    cast(sum(f.inbound_messages) as bigint) as inbound_messages,
    cast(sum(f.outbound_messages) as bigint) as outbound_messages
from channel_funnel f
group by f.messenger
order by clients desc
